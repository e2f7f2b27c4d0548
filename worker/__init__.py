"""The arq worker that runs actions; `worker.settings.WorkerSettings` configures it."""

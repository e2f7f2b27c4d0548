"""What operators see: logs, metrics, health checks, and the request id that ties them together."""

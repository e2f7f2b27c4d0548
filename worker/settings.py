"""arq configuration for the action worker."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.worker import Function, Worker, func

from app.queue import FIRE_EVENT, RUN_ACTION, SWEEP
from app.runtime import arq_redis_settings
from app.settings import Settings, get_settings
from worker.tasks import fire_event, run_action, shutdown, startup, sweep_actions


def _functions(settings: Settings) -> list[Function]:
    # Our own code counts tries and fails actions; arq's limit only stops a runaway job.
    return [
        func(
            run_action,
            name=RUN_ACTION,
            keep_result=0,
            max_tries=settings.action_max_tries * 3,
            timeout=settings.action_timeout_seconds,
        ),
        # An event left unfired after these tries is taken up again by the sweeper.
        func(
            fire_event,
            name=FIRE_EVENT,
            keep_result=0,
            max_tries=settings.action_max_tries,
            timeout=settings.action_timeout_seconds,
        ),
    ]


def _sweep_seconds(settings: Settings) -> set[int]:
    step = min(max(settings.sweep_interval_seconds, 1), 60)
    return set(range(0, 60, step))


def worker_options(settings: Settings) -> dict[str, Any]:
    return {
        "functions": _functions(settings),
        "cron_jobs": [
            cron(
                sweep_actions,
                name=SWEEP,
                second=_sweep_seconds(settings),
                unique=True,
                keep_result=0,
            )
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": arq_redis_settings(settings),
        "poll_delay": settings.worker_poll_delay,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": settings.action_timeout_seconds,
        # On SIGTERM, running actions get this long to finish before the worker stops.
        "job_completion_wait": settings.action_timeout_seconds,
        "ctx": {"settings": settings},
        "keep_result": 0,
    }


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    return Worker(**{**worker_options(settings), **overrides})


def __getattr__(name: str) -> Any:
    # `arq worker.settings.WorkerSettings` reads a class of attributes; it is built on first
    # use, so that importing this module never requires REDIS_URL.
    if name == "WorkerSettings":
        return type("WorkerSettings", (), worker_options(get_settings()))
    raise AttributeError(name)

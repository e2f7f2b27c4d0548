"""arq configuration for the action worker."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.cron import CronJob
from arq.worker import Function, Worker, func

from app.queue import FIRE_EVENT, PURGE, RUN_ACTION, SWEEP
from app.runtime import arq_redis_settings
from app.services.claims import LEASE_MARGIN
from app.settings import Settings, get_settings
from worker.job_starts import GroupStartingWorker
from worker.tasks import (
    fire_event,
    purge_actions,
    run_action,
    shutdown,
    startup,
    sweep_actions,
)

# arq delivers a job again only when it was cancelled or raised Retry (the database could not
# be reached to claim the action). The row counts tries; this only ends a job that keeps
# failing to claim, and the sweeper queues the action again once the database is back.
JOB_MAX_DELIVERIES = 20
PURGE_MINUTES = set(range(0, 60, 10))


def job_timeout(settings: Settings) -> float:
    """arq's limit on one job: only a backstop. A try times out by itself, and its claim's
    lease (timeout + margin) bounds how long it may spend recording its outcome."""
    return 2 * (settings.action_timeout_seconds + LEASE_MARGIN.total_seconds())


def _functions(settings: Settings) -> list[Function]:
    return [
        func(
            run_action,
            name=RUN_ACTION,
            keep_result=0,
            max_tries=JOB_MAX_DELIVERIES,
            timeout=job_timeout(settings),
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


def _cron_jobs(settings: Settings) -> list[CronJob]:
    # Both run when a worker starts, too: whatever a dead worker left is taken up at once.
    jobs = [
        cron(
            sweep_actions,
            name=SWEEP,
            second=_sweep_seconds(settings),
            unique=True,
            keep_result=0,
            run_at_startup=True,
        )
    ]
    if settings.action_retention_days > 0:
        jobs.append(
            cron(
                purge_actions,
                name=PURGE,
                minute=PURGE_MINUTES,
                second=7,
                unique=True,
                keep_result=0,
                run_at_startup=True,
            )
        )
    return jobs


def worker_options(settings: Settings) -> dict[str, Any]:
    return {
        "functions": _functions(settings),
        "cron_jobs": _cron_jobs(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": arq_redis_settings(settings),
        "poll_delay": settings.worker_poll_delay,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": settings.action_timeout_seconds,
        # Under `arq worker.settings.WorkerSettings`: on SIGTERM, running actions get this long
        # to finish. `actions-gateway worker` (worker/runner.py) does the same itself.
        "job_completion_wait": int(settings.worker_shutdown_seconds),
        "ctx": {"settings": settings},
        "keep_result": 0,
    }


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    return GroupStartingWorker(**{**worker_options(settings), **overrides})


def __getattr__(name: str) -> Any:
    # `arq worker.settings.WorkerSettings` reads a class of attributes; it is built on first
    # use, so that importing this module never requires REDIS_URL. arq then runs its own
    # Worker, which starts jobs one at a time (`actions-gateway worker` starts them in groups).
    if name == "WorkerSettings":
        return type("WorkerSettings", (), worker_options(get_settings()))
    raise AttributeError(name)

"""Running a worker process: stopping cleanly, and surviving Redis going away.

arq's worker ends when its Redis connection drops. Here, a worker that loses Redis lets its
running actions finish (they need only the database), then waits for Redis and starts again;
one that cannot start (Redis or the database unreachable) tries again with a growing pause.
After WORKER_REDIS_OUTAGE_SECONDS of either, the process exits with status 1, for its
supervisor to restart or alert, rather than hang. SIGTERM or SIGINT stops taking jobs, lets
running actions finish for up to WORKER_SHUTDOWN_SECONDS, then hands the rest back (PENDING)
and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable

from arq.worker import Worker
from redis.exceptions import RedisError

from app.runtime import redis_client
from app.services.retry_policy import describe, is_transient
from app.settings import Settings
from worker.settings import create_worker

log = logging.getLogger(__name__)

CANNOT_SERVE = 1


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop if asked for or installed ("auto"); None for asyncio's own loop."""
    if settings.worker_event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if settings.worker_event_loop == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


async def run(settings: Settings, *, stop: asyncio.Event | None = None, burst: bool = False) -> int:
    """Run until stopped (0), or until the worker could not serve for too long (1)."""
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    outage = Outage(settings.worker_redis_outage_seconds)
    while True:
        redis = redis_client(settings)
        worker = create_worker(settings, redis_pool=redis, handle_signals=False, burst=burst)
        main = asyncio.create_task(worker.main(), name="arq-worker")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not main.done():
            grace = settings.worker_shutdown_seconds
            log.info("stopping: finishing running actions (for up to %ss)", grace)
            await _drain(worker, grace)
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await main
            await _close(worker)
            return 0
        error = main.exception()
        if error is None or not is_transient(error):
            await _close(worker)
            if error is not None:
                raise error
            return 0
        # Once started, only Redis ends arq's loop (a job's own errors stay in the job).
        if "runtime" in worker.ctx:
            log.warning("lost Redis (%s); finishing running actions, then reconnecting", error)
            await _drain(worker, settings.worker_shutdown_seconds)
            outage.begin()
        else:
            log.warning("could not start (%s); trying again", describe(error))
            outage.go_on()
        await _close(worker)
        if not await _wait_for_redis(settings, stop, outage):
            if stop.is_set():
                return 0
            log.error(
                "could not serve for %ss (Redis or the database unreachable); exiting for "
                "the supervisor to restart this worker",
                settings.worker_redis_outage_seconds,
            )
            return CANNOT_SERVE
        log.info("starting the worker again")


class Outage:
    """When the worker stopped serving, and how long to pause before its next start."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.since: float | None = None
        self.pause = 0.0

    def begin(self) -> None:
        self.since, self.pause = time.monotonic(), 0.0

    def go_on(self) -> None:
        # A start that failed: the outage goes on, and the next start waits longer.
        if self.since is None:
            self.since = time.monotonic()
        self.pause = min(max(self.pause * 2, 0.2), 5.0)

    @property
    def deadline(self) -> float:
        assert self.since is not None
        return self.since + self.limit


async def _drain(worker: Worker, grace: float) -> None:
    """Take no more jobs; wait up to `grace` for running ones, then cancel the rest.

    A cancelled try hands its action back (PENDING) before it ends: nothing is left half done.
    """
    worker.allow_pick_jobs = False
    deadline = time.monotonic() + grace
    # Jobs whose start was already on its way to Redis join the running ones a moment later:
    # look again until none runs.
    while running := [task for task in worker.tasks.values() if not task.done()]:
        _, late = await asyncio.wait(running, timeout=max(deadline - time.monotonic(), 0))
        for task in late:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _close(worker: Worker) -> None:
    with contextlib.suppress(Exception):
        if worker.on_shutdown is not None:
            await worker.on_shutdown(worker.ctx)
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)
    with contextlib.suppress(Exception):
        await worker.pool.aclose()


async def _wait_for_redis(settings: Settings, stop: asyncio.Event, outage: Outage) -> bool:
    """Pause, then ping until Redis answers (True), the outage lasts too long or we are
    stopped (False)."""
    if await _stopped_within(stop, min(outage.pause, outage.deadline - time.monotonic())):
        return False
    if time.monotonic() >= outage.deadline:
        return False
    delay = 0.2
    redis = redis_client(settings)
    try:
        while True:
            with contextlib.suppress(RedisError, OSError):
                if await redis.ping():
                    return True
            if time.monotonic() + delay > outage.deadline:
                return False
            if await _stopped_within(stop, delay):
                return False
            delay = min(delay * 2, 2.0)
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(seconds, 0.0))
    return stop.is_set()

"""Running a worker process: stopping cleanly, and surviving Redis going away.

arq's worker ends when its Redis connection drops. Here, a worker that loses Redis lets its
running actions finish (they need only the database), then waits for Redis and starts again;
if Redis stays away for WORKER_REDIS_OUTAGE_SECONDS the process exits with status 1, for its
supervisor to restart or alert, rather than hang. SIGTERM or SIGINT stops taking jobs, lets
running actions finish for up to WORKER_SHUTDOWN_SECONDS, then hands the rest back (PENDING)
and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from arq.worker import Worker
from redis.exceptions import RedisError

from app.runtime import redis_client
from app.settings import Settings
from worker.settings import create_worker

log = logging.getLogger(__name__)

REDIS_GONE = 1


async def run(settings: Settings, *, stop: asyncio.Event | None = None, burst: bool = False) -> int:
    """Run until stopped (0), or until Redis has been unreachable for too long (1)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
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
        if error is None:
            await _close(worker)
            return 0
        if not isinstance(error, RedisError | OSError):
            await _close(worker)
            raise error
        log.warning("lost Redis (%s); finishing running actions, then reconnecting", error)
        await _drain(worker, settings.worker_shutdown_seconds)
        await _close(worker)
        if not await _wait_for_redis(settings, stop):
            if stop.is_set():
                return 0
            log.error(
                "Redis unreachable for %ss; exiting for the supervisor to restart this worker",
                settings.worker_redis_outage_seconds,
            )
            return REDIS_GONE
        log.info("Redis is back; the worker starts again")


async def _drain(worker: Worker, grace: float) -> None:
    """Take no more jobs; wait up to `grace` for running ones, then cancel the rest.

    A cancelled try hands its action back (PENDING) before it ends: nothing is left half done.
    """
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        _, late = await asyncio.wait(running, timeout=grace)
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


async def _wait_for_redis(settings: Settings, stop: asyncio.Event) -> bool:
    """Ping until Redis answers (True), the outage lasts too long or we are stopped (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.worker_redis_outage_seconds
    delay = 0.2
    redis = redis_client(settings)
    try:
        while not stop.is_set():
            with contextlib.suppress(RedisError, OSError):
                if await redis.ping():
                    return True
            if loop.time() + delay > deadline:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 2.0)
        return False
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()

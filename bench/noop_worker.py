"""arq's own ceiling: a worker with the product's poll_delay and max_jobs, running no-op jobs.

`python -m bench.noop_worker N` queues N jobs (ids as the product's are: one per job) on a
queue of its own, then runs an arq worker in burst mode until the queue is empty, and prints
the rate at which the jobs finished.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
from arq.connections import create_pool
from arq.worker import Worker, func

from app.runtime import arq_redis_settings
from app.settings import get_settings
from worker.runner import loop_factory

FINISHED: list[float] = []


async def noop(ctx: dict[str, Any], number: int) -> None:
    FINISHED.append(time.perf_counter())


async def measure(jobs: int) -> dict[str, Any]:
    settings = get_settings()
    queue = f"bench:noop:{uuid.uuid4().hex[:8]}"
    redis = await create_pool(arq_redis_settings(settings), default_queue_name=queue)
    for number in range(jobs):
        await redis.enqueue_job("noop", number, _job_id=f"noop:{queue}:{number}")
    worker = Worker(
        functions=[func(noop, name="noop", keep_result=0)],
        redis_pool=redis,
        queue_name=queue,
        poll_delay=settings.worker_poll_delay,
        max_jobs=settings.worker_max_jobs,
        burst=True,
        handle_signals=False,
        keep_result=0,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    span = max(FINISHED) - min(FINISHED) if len(FINISHED) > 1 else 0.0
    return {
        "jobs": len(FINISHED),
        "jobs_per_s": (len(FINISHED) - 1) / span if span > 0 else 0.0,
        "poll_delay": settings.worker_poll_delay,
        "max_jobs": settings.worker_max_jobs,
    }


def main() -> None:
    # The event loop `actions-gateway worker` runs arq on (WORKER_EVENT_LOOP).
    with asyncio.Runner(loop_factory=loop_factory(get_settings())) as runner:
        result = runner.run(measure(int(sys.argv[1])))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()

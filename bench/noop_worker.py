"""arq's own ceiling: a burst worker that drains N no-op jobs, with the product worker's
poll_delay and max_jobs. Run by `bench/worker_rate.py` as a separate process, like the real
worker; prints `{"jobs": N, "rate": jobs per second}` from its first job's start to its last's.

    REDIS_URL=... NOOP_QUEUE=... python -m bench.noop_worker
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, func

from app.settings import Settings

_times: list[float] = []
_cpu: list[float] = []


async def noop(ctx: dict[str, Any]) -> None:
    _times.append(time.perf_counter())
    _cpu.append(time.process_time())


async def main() -> None:
    settings = Settings()
    worker = Worker(
        functions=[func(noop, name="noop", keep_result=0)],
        redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]),
        queue_name=os.environ["NOOP_QUEUE"],
        poll_delay=settings.worker_poll_delay,
        max_jobs=settings.worker_max_jobs,
        keep_result=0,
        burst=True,
        handle_signals=False,
    )
    await worker.main()
    await worker.close()
    span = _times[-1] - _times[0] if len(_times) > 1 else float("nan")
    cpu = time.process_time()
    rate = (len(_times) - 1) / span
    print(
        json.dumps({"jobs": len(_times), "rate": rate, "cpu_ms_per_job": 1000 * cpu / len(_times)})
    )


if __name__ == "__main__":
    if os.environ.get("BENCH_LOOP") == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())

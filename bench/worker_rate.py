"""Section 3, the worker: its sustained rate draining a backlog, against arq's no-op rate and
the database's bare commit rate for the same writes, measured in turn, round after round.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from app.models import Action, ActionStatus
from app.runtime import Runtime
from bench.deploy import Deployment
from bench.load import Job, LoadGenerator
from bench.procs import bench_command, run_json
from bench.sizes import Sizes
from bench.stats import median, ratio
from bench.tenants import Tenant


async def _latest_id(rt: Runtime) -> int:
    async with rt.sessions() as session:
        return int(await session.scalar(select(func.max(col(Action.id)))) or 0)


async def _executed(
    rt: Runtime, company_id: int, after_id: int
) -> tuple[int, datetime | None, datetime | None]:
    async with rt.sessions() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.min(col(Action.executed_at)),
                    func.max(col(Action.executed_at)),
                ).where(
                    col(Action.company_id) == company_id,
                    col(Action.id) > after_id,
                    col(Action.status) == ActionStatus.EXECUTED,
                )
            )
        ).one()
    return int(row[0]), row[1], row[2]


async def drain(
    deployment: Deployment, rt: Runtime, tenant: Tenant, sizes: Sizes, load: LoadGenerator
) -> dict[str, Any]:
    """Create a backlog with the worker stopped, start it, and time the backlog's execution
    by the rows' executed_at (the worker's start-up is not counted)."""
    deployment.stop_worker()
    after_id = await _latest_id(rt)
    job = Job(
        target="product",
        operation="create",
        port=deployment.ports["product"],
        key=tenant.key,
        count=sizes.backlog,
        concurrency=32,
        label=f"backlog {after_id}",
        app_ids=tenant.app_ids,
        time_limit=sizes.request_time_limit * 4,
    )
    created = (await asyncio.to_thread(load.run, job)).completed
    started = time.monotonic()
    deployment.start_worker()
    deadline = started + 60 + sizes.backlog / 10
    while True:
        done, first, last = await _executed(rt, tenant.company_id, after_id)
        if done >= created or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    wall = time.monotonic() - started
    deployment.stop_worker()
    if done < created:
        raise RuntimeError(f"the worker executed {done} of {created} actions in {wall:.0f}s")
    assert first is not None and last is not None
    span = (last - first).total_seconds()
    return {
        "actions": done,
        "actions_per_s": (done - 1) / span if span > 0 else 0.0,
        "wall_seconds_with_startup": wall,
    }


async def run(
    deployment: Deployment, rt: Runtime, tenant: Tenant, sizes: Sizes, load: LoadGenerator
) -> dict[str, Any]:
    settings = deployment.settings
    timeout = 120 + sizes.backlog / 10
    rounds: list[dict[str, Any]] = []
    for _ in range(sizes.worker_rounds):
        product = await drain(deployment, rt, tenant, sizes, load)
        noop = await run_json(
            bench_command("noop_worker", str(sizes.backlog)), deployment.env, timeout
        )
        commits = await run_json(
            bench_command(
                "bare_commits",
                str(tenant.company_id),
                str(tenant.app_ids[0]),
                str(sizes.backlog),
                str(settings.worker_max_jobs),
            ),
            deployment.env,
            timeout,
        )
        rounds.append({"product": product, "noop": noop, "commits": commits})
    return {
        "worker": {
            "backlog": sizes.backlog,
            "poll_delay": settings.worker_poll_delay,
            "max_jobs": settings.worker_max_jobs,
            "actions_per_s": median([r["product"]["actions_per_s"] for r in rounds]),
            "noop_jobs_per_s": median([r["noop"]["jobs_per_s"] for r in rounds]),
            "commits_per_s_sequential": median([r["commits"]["sequential"] for r in rounds]),
            "commits_per_s_concurrent": median([r["commits"]["concurrent"] for r in rounds]),
            "ratio_to_noop": median(
                [ratio(r["product"]["actions_per_s"], r["noop"]["jobs_per_s"]) for r in rounds]
            ),
            # Against the database's better bare rate, one at a time or concurrently.
            "ratio_to_commit": median(
                [
                    ratio(
                        r["product"]["actions_per_s"],
                        max(r["commits"]["sequential"], r["commits"]["concurrent"]),
                    )
                    for r in rounds
                ]
            ),
            "rounds": rounds,
        }
    }

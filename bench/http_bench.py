"""Sections 1 and 2: createAction and action(id) over HTTP, product against both baselines.

The three servers run side by side; each measurement loads one of them, in turn (product,
floor, graphql-core, then again), so that whatever else the machine does hits all three alike.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Final

from sqlalchemy import delete, select
from sqlmodel import col

from app.models import Action, ActionStatus
from app.runtime import Runtime
from bench.deploy import Deployment
from bench.load import Job, LoadGenerator, Result
from bench.sizes import Sizes
from bench.stats import median, percentile, ratio
from bench.tenants import Tenant

TARGETS: Final = ("product", "floor", "graphql_core")
OPERATIONS: Final = ("create", "read")
CONCURRENCIES: Final = (4, 32)
READ_ROWS: Final = 200


async def _run(load: LoadGenerator, job: Job) -> Result:
    result = await asyncio.to_thread(load.run, job)
    if result.completed == 0:
        raise RuntimeError(
            f"{job.target} {job.operation}: nothing succeeded: {result.failure_sample}"
        )
    return result


async def _read_ids(rt: Runtime, company_id: int) -> list[int]:
    async with rt.sessions() as session:
        ids = await session.scalars(
            select(col(Action.id))
            .where(col(Action.company_id) == company_id)
            .order_by(col(Action.id))
            .limit(READ_ROWS)
        )
        return [i for i in ids.all() if i is not None]


def summarize(results: list[Result]) -> dict[str, Any]:
    latencies = [x for r in results for x in r.latencies_ms]
    seconds = sum(r.seconds for r in results)
    return {
        "rps": median([r.rps for r in results]),
        "rps_rounds": [round(r.rps, 1) for r in results],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "requests": sum(r.completed for r in results),
        "failures": sum(r.failures for r in results),
        "client_cpu_percent": 100 * sum(r.client_cpu_seconds for r in results) / seconds
        if seconds
        else 0.0,
    }


def compare(by_target: dict[str, list[Result]]) -> dict[str, Any]:
    """Each server's summary, and the product's ratios: the median of each round's ratio."""
    product = by_target["product"]
    summary: dict[str, Any] = {t: summarize(by_target[t]) for t in TARGETS}
    for baseline in ("floor", "graphql_core"):
        summary[f"ratio_to_{baseline}"] = median(
            [ratio(p.rps, b.rps) for p, b in zip(product, by_target[baseline], strict=True)]
        )
    return summary


async def run(
    deployment: Deployment, rt: Runtime, tenant: Tenant, sizes: Sizes, load: LoadGenerator
) -> dict[str, Any]:
    token = uuid.uuid4().hex[:6]

    def job(target: str, operation: str, count: int, concurrency: int, label: str) -> Job:
        return Job(
            target=target,
            operation=operation,
            port=deployment.ports[target],
            key=tenant.key,
            count=count,
            concurrency=concurrency,
            label=f"{token} {label} {target}",
            app_ids=tenant.app_ids,
            action_ids=read_ids,
            time_limit=sizes.request_time_limit,
        )

    read_ids: list[int] = []
    results: dict[str, dict[int, dict[str, list[Result]]]] = {
        op: {c: {t: [] for t in TARGETS} for c in CONCURRENCIES} for op in OPERATIONS
    }
    try:
        # Warm every server (caches, pools, compiled statements), and make the rows to read.
        for target in TARGETS:
            await _run(load, job(target, "create", sizes.warmup, 8, "warm-up"))
        read_ids = await _read_ids(rt, tenant.company_id)
        for target in TARGETS:
            await _run(load, job(target, "read", sizes.warmup, 8, "warm-up"))

        for round_number in range(sizes.rounds):
            for concurrency in CONCURRENCIES:
                for operation in OPERATIONS:
                    count = sizes.creates if operation == "create" else sizes.reads
                    for target in TARGETS:
                        label = f"r{round_number} c{concurrency}"
                        result = await _run(load, job(target, operation, count, concurrency, label))
                        results[operation][concurrency][target].append(result)
    finally:
        await _forget_pending(rt, tenant.company_id)
        deployment.redis.flush()
    return {
        f"http_{operation}": {str(c): compare(results[operation][c]) for c in CONCURRENCIES}
        for operation in OPERATIONS
    }


async def _forget_pending(rt: Runtime, company_id: int) -> None:
    """Drop the actions made here (none ran: no worker), so that no later sweep runs them."""
    async with rt.sessions.begin() as session:
        await session.execute(
            delete(Action).where(
                col(Action.company_id) == company_id, col(Action.status) == ActionStatus.PENDING
            )
        )

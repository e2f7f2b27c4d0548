"""The database's own ceiling: the writes that executing a tag_app action makes, bare.

`python -m bench.bare_commits COMPANY APP N CONCURRENCY` stores 2N PENDING actions (not
timed), then executes N of them one at a time and N with CONCURRENCY at once, each in one
transaction of the three writes execution makes (app/services/execution.py): the claim, the
effect row, the EXECUTED update. Same engine as the product, no ORM, no Redis, no stamps.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from app.db import create_engine
from app.models import Action, ActionStatus, Tag, utcnow
from app.settings import get_settings

LEASE = timedelta(seconds=35)
WARMUP = 20


async def _store(engine: AsyncEngine, company_id: int, app_id: int, count: int) -> list[int]:
    now = utcnow()
    rows = [
        {
            "company_id": company_id,
            "type": "tag_app",
            "data": {"app_id": app_id, "tag_text": f"bare {n}"},
            "status": ActionStatus.PENDING,
            "attempts": 0,
            "version": 1,
            "sequence": 0,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    async with engine.begin() as connection:
        first = await connection.scalar(select(col(Action.id)).order_by(col(Action.id).desc()))
        await connection.execute(insert(Action), rows)
        ids = await connection.scalars(
            select(col(Action.id))
            .where(col(Action.company_id) == company_id, col(Action.id) > (first or 0))
            .order_by(col(Action.id))
        )
        return [i for i in ids.all() if i is not None]


async def execute_one(engine: AsyncEngine, company_id: int, app_id: int, action_id: int) -> None:
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            update(Action)
            .where(col(Action.id) == action_id, col(Action.status) == ActionStatus.PENDING)
            .values(
                status=ActionStatus.RUNNING,
                attempts=col(Action.attempts) + 1,
                lease_expires_at=now + LEASE,
                updated_at=now,
                version=col(Action.version) + 1,
            )
        )
        await connection.execute(
            insert(Tag).values(
                company_id=company_id,
                app_id=app_id,
                text=f"bare {action_id}",
                action_id=action_id,
                created_at=now,
            )
        )
        await connection.execute(
            update(Action)
            .where(col(Action.id) == action_id, col(Action.status) == ActionStatus.RUNNING)
            .values(
                status=ActionStatus.EXECUTED,
                executed_at=now,
                updated_at=now,
                lease_expires_at=None,
                version=col(Action.version) + 1,
            )
        )


async def _rate(
    engine: AsyncEngine, company_id: int, app_id: int, ids: list[int], concurrency: int
) -> float:
    pending: Iterator[int] = iter(ids)

    async def executor() -> None:
        for action_id in pending:
            await execute_one(engine, company_id, app_id, action_id)

    started = time.perf_counter()
    await asyncio.gather(*(executor() for _ in range(concurrency)))
    return len(ids) / (time.perf_counter() - started)


async def measure(company_id: int, app_id: int, count: int, concurrency: int) -> dict[str, Any]:
    engine = create_engine(get_settings())
    try:
        ids = await _store(engine, company_id, app_id, 2 * count + WARMUP)
        # A few unmeasured first, so that both runs start with warm connections and statements.
        await _rate(engine, company_id, app_id, ids[:WARMUP], concurrency)
        ids = ids[WARMUP:]
        return {
            "sequential": await _rate(engine, company_id, app_id, ids[:count], 1),
            "concurrent": await _rate(engine, company_id, app_id, ids[count:], concurrency),
            "concurrency": concurrency,
        }
    finally:
        await engine.dispose()


def main() -> None:
    company_id, app_id, count, concurrency = (int(a) for a in sys.argv[1:5])
    result = asyncio.run(measure(company_id, app_id, count, concurrency))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()

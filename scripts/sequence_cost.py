"""What numbering every action change costs: transitions per second with and without the stamp.

    python scripts/sequence_cost.py sqlite+aiosqlite:///./bench.db
    python scripts/sequence_cost.py postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The database must exist and be migrated (`actions-gateway migrate`); the script adds its own
companies and actions. It runs one kind of change (PENDING to PENDING, version bumped) on many
actions, from `concurrency` tasks, in one company (every change contends for its counter)
and spread over as many companies as tasks.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlmodel import col

from app.db import create_engine, create_session_factory
from app.models import Action, ActionStatus, Company
from app.services.changes import transition, update_if
from app.settings import Settings

CHANGES = 2000


async def main(url: str) -> None:
    settings = Settings(database_url=url, database_pool_size=20)
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    concurrency = 1 if settings.is_sqlite else 16
    async with sessions.begin() as session:
        companies = [Company(name="bench") for _ in range(concurrency)]
        session.add_all(companies)
        await session.flush()
        rows = [
            Action(company_id=companies[n % concurrency].id or 0, type="note_app", data={})
            for n in range(CHANGES)
        ]
        session.add_all(rows)
    ids = [row.id or 0 for row in rows]
    one_company = [row.id or 0 for row in rows if row.company_id == companies[0].id]
    pending = col(Action.status) == ActionStatus.PENDING

    async def run(stamped: bool, targets: list[int]) -> float:
        queue = list(targets)

        async def worker() -> None:
            while queue:
                action_id = queue.pop()
                async with sessions.begin() as session:
                    change = transition if stamped else update_if
                    await change(session, action_id, pending, status=ActionStatus.PENDING)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(targets) / (time.perf_counter() - started)

    print(f"{engine.dialect.name}, {concurrency} concurrent transactions, changes per second:")
    for label, targets in (("spread over companies", ids), ("all in one company", one_company)):
        if concurrency == 1 and label == "all in one company":
            continue
        # Interleaved, twice, so that a busy machine favours neither.
        plain = [await run(False, targets), await run(False, targets)]
        stamped = [await run(True, targets), await run(True, targets)]
        print(f"  {label}: unstamped {max(plain):.0f}, stamped {max(stamped):.0f}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""Where new subscriptions start, read for many at once (`EventBus.latest_sequence`): one
read in flight, everyone who asks meanwhile in the next one, and nobody given a number read
before they asked. The reads are the real query on the real database; the test holds each
one's answer until it says go, to keep a read in flight at will."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlmodel import col, update

from app.events import EventBus
from app.models import Company
from app.runtime import Runtime
from app.services.actions import latest_sequences
from app.services.api_keys import create_company


class HeldReads:
    """The product's read of the latest numbers, its answer held until `go`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.reads: list[list[int]] = []
        self.go = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, company_ids: list[int]) -> dict[int, int]:
        self.reads.append(company_ids)
        answer = await latest_sequences(self.runtime.reads, company_ids)
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        return answer


def _bus(reads: HeldReads) -> EventBus:
    # Never started: it reads where subscriptions start, and listens to nothing.
    return EventBus("redis://127.0.0.1:1/0", reads)


async def _company(runtime: Runtime) -> int:
    company, _ = await create_company(runtime.sessions, f"Starts {uuid.uuid4().hex[:8]}")
    assert company.id is not None
    return company.id


async def _committed_change(runtime: Runtime, company_id: int) -> None:
    """The company's change number moves on, as a committed change moves it."""
    async with runtime.sessions.begin() as session:
        await session.execute(
            update(Company)
            .where(col(Company.id) == company_id)
            .values(action_sequence=Company.action_sequence + 1)
        )


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_askers_during_a_read_share_the_next_one_and_see_what_came_before_they_asked(
    runtime: Runtime,
) -> None:
    one, two = await _company(runtime), await _company(runtime)
    never = two + 1_000_000
    held = HeldReads(runtime)
    bus = _bus(held)
    first = asyncio.ensure_future(bus.latest_sequence(one))
    await _settle()
    assert held.reads == [[one]]

    # A change committed while that read is in flight: those who ask now must see it.
    await _committed_change(runtime, one)
    later = [asyncio.ensure_future(bus.latest_sequence(c)) for c in (one, two, one, never)]
    await _settle()
    assert held.reads == [[one]], "nobody joins a read begun before they asked"
    held.go.set()
    assert await first == 0
    assert [await asker for asker in later] == [1, 0, 1, 0]
    assert held.reads == [[one], [one, two, never]], "everyone who asked meanwhile, in one read"


async def test_an_error_reaches_each_asker_of_that_read_and_the_next_read_runs(
    runtime: Runtime,
) -> None:
    company = await _company(runtime)
    held = HeldReads(runtime)
    bus = _bus(held)
    held.fail = ConnectionError("the database is away")
    failing = [asyncio.ensure_future(bus.latest_sequence(company)) for _ in range(3)]
    held.go.set()
    for asker in failing:
        with pytest.raises(ConnectionError, match="database is away"):
            await asker
    held.fail = None
    assert await bus.latest_sequence(company) == 0


async def test_an_asker_that_gives_up_does_not_end_the_others_read(runtime: Runtime) -> None:
    company = await _company(runtime)
    await _committed_change(runtime, company)
    held = HeldReads(runtime)
    bus = _bus(held)
    leaving, staying = (asyncio.ensure_future(bus.latest_sequence(company)) for _ in range(2))
    await _settle()
    leaving.cancel()
    await _settle()
    held.go.set()
    assert await staying == 1
    assert leaving.cancelled()

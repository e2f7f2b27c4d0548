"""Where new subscriptions start, read for many at once (`EventBus.latest_sequence`): one
read in flight, everyone who asks meanwhile in the next one, and nobody given a number read
before they asked. The reads here are gated by the test, to hold one in flight at will; the
gateway's read is the real query, which the subscription suites run."""

from __future__ import annotations

import asyncio

import pytest

from app.events import EventBus


class GatedReads:
    """A read of the latest numbers that waits for the test's go; the companies of each."""

    def __init__(self) -> None:
        self.latest: dict[int, int] = {}
        self.reads: list[list[int]] = []
        self.go = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, company_ids: list[int]) -> dict[int, int]:
        self.reads.append(company_ids)
        snapshot = dict(self.latest)  # what the database holds as the read begins
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        return {company: snapshot[company] for company in company_ids if company in snapshot}


def _bus(gated: GatedReads) -> EventBus:
    # Never started: it reads where subscriptions start, and listens to nothing.
    return EventBus("redis://127.0.0.1:1/0", latest_sequences=gated)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_askers_during_a_read_share_the_next_one_and_see_what_came_before_they_asked() -> (
    None
):
    gated = GatedReads()
    bus = _bus(gated)
    gated.latest = {1: 10, 2: 20}
    first = asyncio.ensure_future(bus.latest_sequence(1))
    await _settle()
    assert gated.reads == [[1]]

    # A change committed while that read is in flight: those who ask now must see it.
    gated.latest[1] = 11
    later = [asyncio.ensure_future(bus.latest_sequence(company)) for company in (1, 2, 1, 3)]
    await _settle()
    assert gated.reads == [[1]], "nobody joins a read begun before they asked"
    gated.go.set()
    assert await first == 10
    assert [await asker for asker in later] == [11, 20, 11, 0]
    assert gated.reads == [[1], [1, 2, 3]], "everyone who asked meanwhile, in one read"


async def test_an_error_reaches_each_asker_of_that_read_and_the_next_read_runs() -> None:
    gated = GatedReads()
    bus = _bus(gated)
    gated.latest = {1: 5}
    gated.fail = ConnectionError("the database is away")
    failing = [asyncio.ensure_future(bus.latest_sequence(1)) for _ in range(3)]
    gated.go.set()
    for asker in failing:
        with pytest.raises(ConnectionError, match="database is away"):
            await asker
    gated.fail = None
    assert await bus.latest_sequence(1) == 5


async def test_an_asker_that_gives_up_does_not_end_the_others_read() -> None:
    gated = GatedReads()
    bus = _bus(gated)
    gated.latest = {1: 7}
    leaving, staying = (asyncio.ensure_future(bus.latest_sequence(1)) for _ in range(2))
    await _settle()
    leaving.cancel()
    await _settle()
    gated.go.set()
    assert await staying == 7
    assert leaving.cancelled()

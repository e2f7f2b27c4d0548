"""Where a new subscription starts: each company's latest change number, read for many at once.

Every `actions` subscription reads its company's latest change number as it starts, after it
has begun listening (app/graphql/subscriptions.py). When thousands connect at once (a
gateway restarted, a deploy), that was one query each, queued on the pool, every waiting
subscription holding its session and greenlet meanwhile: a storm of 1,000 held about 5 MiB
at its peak, which the heap kept.

Here, at most one read is in flight; those who ask meanwhile wait for the next, which reads
for all of them in one query. No one is given a number read before they asked: a read begun
before a subscriber listened could miss a change committed in between, which it would then
get neither from the database nor from the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# Reads the latest change number of each of these companies from the database.
LatestSequences = Callable[[list[int]], Awaitable[dict[int, int]]]


class _Read:
    """One query's companies and, once it has run, its answer."""

    __slots__ = ("companies", "done")

    def __init__(self) -> None:
        self.companies: set[int] = set()
        self.done: asyncio.Future[dict[int, int]] = asyncio.get_running_loop().create_future()


class SequenceReads:
    def __init__(self, read: LatestSequences) -> None:
        self._read = read
        self._running: asyncio.Task[None] | None = None
        self._next: _Read | None = None  # waiting for the one in flight to finish

    async def latest(self, company_id: int) -> int:
        """The company's latest change number, read after this call began (0 before any)."""
        if self._next is None:
            self._next = _Read()
        read = self._next
        read.companies.add(company_id)
        if self._running is None:
            self._start()
        # Shielded: a caller that gives up must not cancel the others' read.
        answer = await asyncio.shield(read.done)
        return answer.get(company_id, 0)

    def _start(self) -> None:
        read, self._next = self._next, None
        assert read is not None
        self._running = asyncio.create_task(self._run(read), name="sequence-read")

    async def _run(self, read: _Read) -> None:
        try:
            answer = await self._read(sorted(read.companies))
        except asyncio.CancelledError:
            read.done.cancel()
            raise
        except Exception as exc:  # each caller gets the error, as from a read of its own
            read.done.set_exception(exc)
        else:
            read.done.set_result(answer)
        finally:
            self._running = None
            if self._next is not None:
                self._start()

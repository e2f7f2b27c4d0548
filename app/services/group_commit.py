"""Group commit: writes that arrive while one batch is being written go together in the next.

There is no timer. An idle writer starts on the first write at once (a batch of one); writes
that arrive while a batch is in flight queue, and when it is done all of them go in one
batch. So at low load nothing waits, and under load a batch grows with the rate: a hundred
concurrent requests cost a few transactions and round trips, not a hundred.

Each caller gets its own outcome once its batch is done: the batch decides per item (one
caller's refusal is that caller's alone), and a batch that fails as a whole fails each of
its callers with that error. A caller that stops waiting (its request timed out, its client
went away) does not stop the batch: what it asked for is written whole or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes one batch; returns, for each item in order, its result or the exception for it alone.
WriteBatch = Callable[[list[Item]], Awaitable[list[Result | Exception]]]

# Bounds one transaction's size (and the time its locks are held) when a backlog builds up.
MAX_BATCH: Final = 256


class GroupCommit(Generic[Item, Result]):
    """A writer that batches concurrent `submit`s; one batch in flight at a time."""

    def __init__(self, write: WriteBatch[Item, Result], max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's result once its batch is written; raises what refused it, or the batch."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            # A context of its own: the writer serves many requests and must carry none's
            # request id into its log lines (items carry their own).
            self._writer = asyncio.create_task(self._run(), context=contextvars.Context())
        try:
            # Shielded: cancelling the caller leaves its item in the batch, written whole.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_retrieve)
            raise

    async def close(self) -> None:
        """Wait until every submitted item is written."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    outcomes = await self._write([item for item, _ in batch])
                except Exception as exc:  # the batch as a whole failed: so did each item
                    outcomes = [exc] * len(batch)
                except BaseException:
                    _fail(batch, RuntimeError("the batch writer was stopped"))
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._writer = None
            # Stopped (the loop is closing): nothing left waiting forever.
            _fail(self._waiting, RuntimeError("the batch writer was stopped"))
            self._waiting = []


def _fail(batch: list[tuple[Item, asyncio.Future[Result]]], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Nobody waits for a cancelled caller's outcome; reading it keeps asyncio from
    # logging "exception was never retrieved" for an error already seen by the others.
    with contextlib.suppress(BaseException):
        future.exception()

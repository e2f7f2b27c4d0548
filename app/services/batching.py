"""Natural batching (group commit): what callers submit while one batch runs is the next.

No timer: a lone item runs at once, and under load each batch is whatever queued up while the
previous one was committing, so the batch size follows the load by itself: a hundred
concurrent creates cost a few transactions and round trips, not a hundred. One runner at a
time per batcher, so that (on SQLite's one connection, or PostgreSQL's row locks) batches of
one kind never wait for each other.

Each caller gets its own outcome: the batch decides per item (one caller's refusal is that
caller's alone), and a batch that fails as a whole fails each of its callers with that error.
What a cancelled caller's item becomes is the batcher's choice: left out if its batch has not
started (the worker's claims), or, `shielded`, written whole all the same (a create whose
request timed out: saved whole or not at all, never half).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Runs one batch: a result (or an exception) for each item, in the items' order.
BatchRunner = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]
# Takes a result whose caller was cancelled while its batch ran.
Orphaned = Callable[[T, R], Awaitable[None]]


class Batcher(Generic[T, R]):
    def __init__(
        self,
        run: BatchRunner[T, R],
        *,
        max_size: int = 100,
        orphaned: Orphaned[T, R] | None = None,
        shielded: bool = False,
    ) -> None:
        self._run = run
        self._orphaned = orphaned
        self._shielded = shielded
        self._max_size = max_size
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """The item's result once its batch has run. Cancelling the caller before its batch
        starts leaves the item out (unless `shielded`); after, the batch goes on without it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None:
            # A context of its own: the runner must not log under the first caller's ids.
            self._runner = asyncio.create_task(self._drain(), context=contextvars.Context())
        if not self._shielded:
            return await future
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_retrieve)
            raise

    async def idle(self) -> None:
        """Wait until no batch is running (before closing what batches use)."""
        while self._runner is not None:
            await asyncio.shield(self._runner)

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken = [entry for entry in self._queue[: self._max_size] if not entry[1].done()]
                del self._queue[: self._max_size]
                if taken:
                    await self._run_one([item for item, _ in taken], [f for _, f in taken])
        finally:
            self._runner = None
            # Stopped (the loop is closing): nothing is left waiting forever.
            for _, future in self._queue:
                future.cancel()
            self._queue = []

    async def _run_one(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._run(items)
        except BaseException as exc:
            for future in futures:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for item, future, result in zip(items, futures, results, strict=True):
            if not future.done():
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            elif self._orphaned is not None and not isinstance(result, BaseException):
                await self._orphaned(item, result)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Nobody waits for a cancelled caller's outcome; reading it keeps asyncio from
    # logging "exception was never retrieved" for an error already seen by the others.
    with contextlib.suppress(BaseException):
        future.exception()

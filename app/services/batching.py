"""Natural batching: what callers submit while one batch runs becomes the next batch.

No timer: a lone item runs at once, and under load each batch is whatever queued up while the
previous one was committing, so the batch size follows the load by itself. One runner at a
time per batcher, so that (on SQLite's one connection, or PostgreSQL's row locks) batches of
one kind never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

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
    ) -> None:
        self._run = run
        self._orphaned = orphaned
        self._max_size = max_size
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """The item's result once its batch has run. Cancelling the caller before its batch
        starts leaves the item out; after, the batch goes on without the caller."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None:
            # A context of its own: the runner must not log under the first caller's ids.
            self._runner = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await future

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

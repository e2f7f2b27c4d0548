"""A queue and a flag for one connection, lighter than asyncio's Queue and Event.

A gateway holds a few of these for every WebSocket and every subscriber: an asyncio.Queue is
three deques and an Event (about 3 KiB), an Event one deque. These are a list and a flag,
with futures made only when a wait must happen.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class _Waiters:
    """Futures waiting for something, made only when a wait must happen."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)

    @property
    def waiting(self) -> bool:
        """Whether a reader (or writer) is waiting now."""
        return any(not waiter.done() for waiter in self._waiters or ())

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)


class Inbox(_Waiters, Generic[T]):
    """A queue: what uvicorn's WebSocket protocol asks of its asyncio.Queue (put_nowait, get,
    empty), and the event bus of a subscriber's events (app/events.py)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[T] = []

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    async def get(self) -> T:
        while not self._items:
            await self._wait()
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


class Flag(_Waiters):
    """What uvicorn's protocol asks of its asyncio.Event: set, clear, is_set and wait."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = False

    def set(self) -> None:
        self._set = True
        self._wake()

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        while not self._set:
            await self._wait()

"""How many WebSocket operations a gateway process sets up at once.

A reconnect storm starts thousands of subscriptions in a moment. Until it has set up (it
waits for events, parks or ends; replaying the changes it missed is part of setting up),
each one holds its parse, validation, execution, generators and their frames. Thousands of
those at once make a peak of many MiB, and the heap keeps fragments of that peak after they
have settled. Here at most `limit` operations set up together, and the rest wait their turn
in order.

A turn not ended within `patience` seconds is given up anyway. This is for an operation that
waits on something other than events (a slow query): it must not hold the others back.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar


class Turn:
    """One operation's turn to set up; `end` hands it to the next (once, however often called)."""

    __slots__ = ("_gate", "_timer")

    def __init__(self, gate: StartGate) -> None:
        self._gate: StartGate | None = gate
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            gate.patience, self._overdue
        )

    def end(self) -> None:
        gate, timer, self._gate, self._timer = self._gate, self._timer, None, None
        if gate is not None:
            gate.slots.release()
        if timer is not None:
            timer.cancel()

    def _overdue(self) -> None:
        if self._gate is not None:
            self._gate.overdue += 1
            self.end()


class StartGate:
    """At most `limit` operations setting up at once; the others wait in the order they came."""

    def __init__(self, limit: int, patience: float) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.patience = patience
        self.waiting = 0  # operations waiting for a turn (/metrics)
        self.overdue = 0  # turns given up after `patience` since the process started

    async def turn(self) -> Turn:
        self.waiting += 1
        try:
            await self.slots.acquire()  # at once while a slot is free
        finally:
            self.waiting -= 1
        return Turn(self)


# The turn of the operation whose task this is: set by the WebSocket handlers as the task
# begins (app/security/ws_messages.py), ended by `started`.
current_turn: ContextVar[Turn | None] = ContextVar("current_turn", default=None)


def started() -> None:
    """The current operation has set up (it is about to wait for events): its turn goes to
    the next one."""
    turn = current_turn.get()
    if turn is not None:
        turn.end()

"""Opening long-lived connections outside the request that happens to need one first.

An asyncio transport keeps the context (the contextvars) of the task that opened it for as
long as it is open: uvloop copies it into the transport, asyncio into its reader's callback.
A pooled Redis or PostgreSQL connection opened while a WebSocket operation was starting kept
that operation's context, whose route holds the socket and its handler: each such connection
pinned a closed WebSocket's memory for its whole life. So they are opened in a task of their
own, with an empty context.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis.asyncio.connection import AbstractConnection

P = ParamSpec("P")
T = TypeVar("T")


def detached(open_: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, asyncio.Task[T]]:
    """`open_`, run in a task with an empty context (awaiting it awaits the task; cancelling
    the awaiting task cancels it too)."""

    def run(*args: P.args, **kwargs: P.kwargs) -> asyncio.Task[T]:
        coroutine = open_(*args, **kwargs)
        return asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())

    return run


def detached_connection(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """redis-py's connection class `base` (plain, TLS or Unix socket), connecting detached."""

    async def _connect(self: AbstractConnection) -> None:
        await detached(base._connect)(self)

    return type(f"Detached{base.__name__}", (base,), {"_connect": _connect})

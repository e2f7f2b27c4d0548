"""Pooled connections keep nothing of the request that opened them (app/detached.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from sqlalchemy import text

from app.db import create_engine
from app.redis_client import redis_client
from app.settings import Settings


class Held:
    """What a request's context holds: in the gateway, a WebSocket operation's route."""


_held: ContextVar[Held | None] = ContextVar("test_held", default=None)


async def opened_by_a_request(open_: Callable[[], Awaitable[object]]) -> weakref.ref[Held]:
    """Run `open_` as a request would, in a task whose context holds a `Held`."""

    async def request() -> weakref.ref[Held]:
        held = Held()
        _held.set(held)
        await open_()
        return weakref.ref(held)

    held = await asyncio.create_task(request())
    await asyncio.sleep(0)  # the loop lets go of the callback that ran this task's end
    gc.collect()
    return held


async def test_a_pooled_redis_connection_does_not_keep_its_requests_context(
    redis_url: str,
) -> None:
    redis = redis_client(redis_url)
    try:
        held = await opened_by_a_request(redis.ping)
        assert len(redis.connection_pool._available_connections) == 1  # open, in the pool
        assert held() is None
    finally:
        await redis.aclose()


async def test_a_pooled_database_connection_does_not_keep_its_requests_context(
    settings: Settings, migrated: None
) -> None:
    engine = create_engine(settings)

    async def query() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        held = await opened_by_a_request(query)
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        assert held() is None
    finally:
        await engine.dispose()

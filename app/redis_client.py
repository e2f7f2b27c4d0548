"""The Redis client for commands, with each call bounded by asyncio's own timeout.

redis-py's `socket_timeout` wraps every read in a timeout of its own, and a task cancelled
just as a reply arrives inside it carries on as if never cancelled (seen here in about one
cancel in ten, redis-py 5.3; redis/redis-py#2028, #2551). A cancelled WebSocket operation
then kept running, and Strawberry's legacy graphql-ws handler, which waits for it, stopped
reading its socket. So no socket timeout: each command and each pipeline runs under
`asyncio.timeout`, which hands a cancellation on, and a Redis that does not answer still
fails the call (a RedisError, as before) instead of hanging it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio.client import Pipeline
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.detached import detached_connection

# A Redis that does not answer fails the call (logged; the sweeper covers) instead of hanging.
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


def _timed_out(what: object) -> RedisTimeoutError:
    return RedisTimeoutError(f"Redis did not answer {what} within {COMMAND_TIMEOUT:g} s")


class BoundedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                return await super().execute(raise_on_error)
        except TimeoutError:
            raise _timed_out("a pipeline") from None

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        # A watching pipeline (arq's enqueue) runs WATCH and its reads at once.
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except TimeoutError:
            raise _timed_out(args[0] if args else "a command") from None


class BoundedRedis(ArqRedis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except TimeoutError:
            raise _timed_out(args[0] if args else "a command") from None

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return BoundedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


def redis_client(url: str) -> BoundedRedis:
    """A client for commands (enqueue, publish); it connects on first use."""
    client: BoundedRedis = BoundedRedis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    # Opened as requests need them, kept in the pool after they end (app/detached.py).
    pool = client.connection_pool
    pool.connection_class = detached_connection(pool.connection_class)
    return client

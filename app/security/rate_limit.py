"""Rate limits per API key, kept in Redis so that they hold across every gateway process.

GCRA (the generic cell rate algorithm, a token bucket in one number): each key has a
"theoretical arrival time"; a request is allowed if that time is at most one window ahead of
now, and pushes it one interval (window / limit) further. A key may therefore spend its whole
allowance at once, then one request per interval. One Lua script reads and writes it
atomically, on Redis's clock, so gateways with skewed clocks agree.

The same script tells whether the key has been revoked (`app.services.api_keys` marks a
revoked key in Redis): a gateway that trusts a key it checked a moment ago learns of its
revocation in the round trip it makes anyway.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import math
import time
from typing import TYPE_CHECKING, Final

from graphql import GraphQLError
from redis.exceptions import NoScriptError, RedisError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from app.errors import ErrorCode
from app.graphql.fanout import resuming
from app.services.api_keys import revoked_marker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from redis.asyncio import Redis

    from app.graphql.context import Context
    from app.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "ratelimit:"
# A limiter that waits on a hung Redis would slow every request: give up quickly (fail open).
REDIS_TIMEOUT_SECONDS: Final = 0.5
_WARN_EVERY_SECONDS: Final = 30.0

# KEYS[1]: the key's counter; KEYS[2]: the key's revocation mark. ARGV[1]: microseconds per
# request; ARGV[2]: the window in microseconds. Returns -1 for a revoked key (not counted), 0
# when allowed, else how many microseconds until it would be.
_GCRA: Final = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat + interval - window - now
if wait > 0 then return wait end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 0
"""
# Sent by its SHA-1 (EVALSHA): Redis keeps compiled scripts; the text goes only after a restart.
_GCRA_SHA: Final = hashlib.sha1(_GCRA.encode()).hexdigest()


class RateLimitExceeded(Exception):
    def __init__(self, retry_after: int, limit: int, window: int) -> None:
        super().__init__(
            f"too many requests for this API key: at most {limit} every {window} seconds; "
            f"retry in {retry_after} s"
        )
        self.retry_after = retry_after


class Counted(enum.Enum):
    """What Redis said of a request that is within its key's limit."""

    COUNTED = "counted"
    # Redis did not answer: let through uncounted, and nothing is known of revocations.
    UNCHECKED = "unchecked"
    # The key has been revoked (since its row was read): refuse it.
    REVOKED = "revoked"


_last_warning = 0.0


async def check_rate(redis: Redis, settings: Settings, key_id: int) -> Counted:
    """Count one request of the key; RateLimitExceeded if it is over its limit.

    If Redis is unreachable the request is let through (and that is logged): refusing all
    traffic because a limiter's store is down would turn a Redis outage into a full outage,
    while authentication and every other check still hold.
    """
    global _last_warning
    limit, window = settings.rate_limit_requests, settings.rate_limit_window_seconds
    interval = window * 1_000_000 // limit
    keys_and_args = (
        f"{KEY_PREFIX}{key_id}",
        revoked_marker(key_id),
        str(interval),
        str(window * 1_000_000),
    )
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            try:
                reply = await redis.evalsha(_GCRA_SHA, 2, *keys_and_args)  # type: ignore[misc]
            except NoScriptError:
                reply = await redis.eval(_GCRA, 2, *keys_and_args)  # type: ignore[misc]
    except (RedisError, OSError, TimeoutError) as exc:
        if time.monotonic() - _last_warning > _WARN_EVERY_SECONDS:
            _last_warning = time.monotonic()
            log.warning("rate limits are not enforced: Redis is unreachable (%s)", exc)
        return Counted.UNCHECKED
    wait = int(reply)
    if wait < 0:
        return Counted.REVOKED
    if wait > 0:
        raise RateLimitExceeded(max(1, math.ceil(wait / 1_000_000)), limit, window)
    return Counted.COUNTED


def rate_limited_error(exc: RateLimitExceeded) -> GraphQLError:
    return GraphQLError(
        str(exc), extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": exc.retry_after}
    )


class RateLimitWebSocketOperations(SchemaExtension):
    """Each operation started over a WebSocket counts against its key, at subscribe time.

    HTTP requests are counted at the door (`app.security.http`), before their body is read.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        context: Context = self.execution_context.context
        # A parked subscription woken up (app/graphql/fanout.py) was counted as it started.
        resumed = resuming.get() is not None
        if (
            isinstance(context.request, WebSocket)
            and context.api_key_id is not None
            and not resumed
        ):
            try:
                await check_rate(
                    context.runtime.redis, context.runtime.settings, context.api_key_id
                )
            except RateLimitExceeded as exc:
                raise rate_limited_error(exc) from None
        yield

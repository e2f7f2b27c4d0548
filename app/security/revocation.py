"""Closing the WebSockets of revoked API keys on this gateway, within seconds.

Two paths, so that neither a missed message nor a down Redis leaves a revoked key connected:
the announcement on Redis (`keys:revoked`, at once) and a periodic re-check of the keys of
every open socket against the database (every KEY_RECHECK_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.services.api_keys import REVOKED_CHANNEL, revoked_among

if TYPE_CHECKING:
    from app.runtime import Runtime
    from app.security.connections import Connections

log = logging.getLogger(__name__)


class RevocationWatcher:
    def __init__(self, runtime: Runtime, connections: Connections) -> None:
        self._runtime = runtime
        self._connections = connections
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="revocations"),
            asyncio.create_task(self._recheck(), name="revocation-recheck"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        assert self._runtime.settings.redis_url is not None
        redis: Redis = Redis.from_url(self._runtime.settings.redis_url)
        delay = 0.1
        try:
            while True:
                pubsub = redis.pubsub()
                try:
                    await pubsub.subscribe(REVOKED_CHANNEL)
                    delay = 0.1
                    async for message in pubsub.listen():
                        kind: Any = message["type"]
                        if kind == "message":
                            await self._close(message["data"])
                except (RedisError, OSError) as exc:
                    log.warning("revocation listener lost Redis (%s); reconnecting", exc)
                finally:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            await redis.aclose()

    async def _close(self, raw: bytes) -> None:
        try:
            key_id = int(raw)
        except ValueError:
            log.warning("ignored a malformed revocation %r", raw[:40])
            return
        # The mark in Redis refuses the key's next request anyway; this only saves a look.
        self._runtime.trusted_keys.forget_key(key_id)
        await self._connections.close_key(key_id)

    async def _recheck(self) -> None:
        while True:
            await asyncio.sleep(self._runtime.settings.key_recheck_seconds)
            key_ids = self._connections.key_ids()
            try:
                revoked = await revoked_among(self._runtime.reads, key_ids)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not re-check the keys of open WebSockets: %s", exc)
                continue
            for key_id in revoked:
                await self._connections.close_key(key_id)

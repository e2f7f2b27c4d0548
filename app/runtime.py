"""The long-lived clients a process holds: database engine, Redis, the event bus."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arq.connections import ArqRedis, RedisSettings

from app.db import SessionFactory, create_engine, create_session_factory
from app.events import EventBus
from app.migrate import ensure_migrated
from app.redis_client import redis_client as bounded_redis_client
from app.services.actions import latest_sequences
from app.services.api_keys import TrustedKeys

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from app.services.execution import TryBatches
    from app.settings import Settings


def redis_url(settings: Settings) -> str:
    if settings.redis_url is None:
        raise RuntimeError(
            "REDIS_URL is not set: use `actions-gateway dev`, which starts an embedded Redis, "
            "or set REDIS_URL=redis://host:6379/0"
        )
    return settings.redis_url


def arq_redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(redis_url(settings))


def redis_client(settings: Settings) -> ArqRedis:
    """A Redis client for commands (enqueue, publish); it connects on first use."""
    return bounded_redis_client(redis_url(settings))


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis
    # Only processes that serve subscriptions listen to events.
    bus: EventBus | None = None
    # API keys read a moment ago: HTTP requests skip the key's row while Redis vouches for it.
    trusted_keys: TrustedKeys = field(default_factory=TrustedKeys)
    # The worker's batched transactions (app/services/execution.py), made on first use.
    try_batches: TryBatches | None = None

    @classmethod
    async def start(cls, settings: Settings, *, listen: bool) -> Runtime:
        engine = create_engine(settings)
        try:
            await ensure_migrated(engine)
        except BaseException:
            # A worker that could not start tries again: leave nothing open behind.
            await engine.dispose()
            raise
        sessions = create_session_factory(engine)
        # Connections are made on first use, so a gateway starts while Redis is down.
        redis = redis_client(settings)
        bus = None
        if listen:
            bus = EventBus(
                redis_url(settings),
                latest_sequences=functools.partial(latest_sequences, sessions),
                check_interval=settings.subscription_check_seconds,
            )
            await bus.start()
        return cls(settings, engine, sessions, redis, bus)

    async def close(self) -> None:
        if self.try_batches is not None:
            await self.try_batches.idle()
        if self.bus is not None:
            await self.bus.stop()
        await self.redis.aclose()
        await self.engine.dispose()

"""The long-lived clients a process holds: database engine, Redis, the event bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from arq.connections import ArqRedis, RedisSettings

from app.db import SessionFactory, create_engine, create_session_factory
from app.events import EventBus
from app.migrate import ensure_migrated

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis
    # Only processes that serve subscriptions listen to events.
    bus: EventBus | None = None

    @classmethod
    async def start(cls, settings: Settings, *, listen: bool) -> Runtime:
        engine = create_engine(settings)
        await ensure_migrated(engine)
        # Connections are made on first use, so a gateway starts while Redis is down.
        redis = ArqRedis.from_url(redis_url(settings))
        bus = EventBus(redis_url(settings)) if listen else None
        if bus is not None:
            await bus.start()
        return cls(settings, engine, create_session_factory(engine), redis, bus)

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        await self.redis.aclose()
        await self.engine.dispose()

"""The long-lived clients a process holds: database engine, Redis, the event bus."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arq.connections import ArqRedis, RedisSettings

from app.db import SessionFactory, create_engine, create_read_engine, create_session_factory
from app.events import EventBus
from app.migrate import ensure_migrated
from app.redis_client import redis_client as bounded_redis_client
from app.services.actions import (
    MAX_CREATE_BATCH,
    Created,
    NewAction,
    latest_sequences,
    write_creates,
)
from app.services.api_keys import Principal, TrustedKeys, read_keys
from app.services.batching import Batcher

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
    # For writes, and reads that must see a transaction's own writes.
    sessions: SessionFactory
    redis: ArqRedis
    # Only processes that serve subscriptions listen to events.
    bus: EventBus | None = None
    # API keys read a moment ago: HTTP requests skip the key's row while Redis vouches for it.
    trusted_keys: TrustedKeys = field(default_factory=TrustedKeys)
    # For reads outside a write: on SQLite, connections that do not queue behind the writer.
    read_engine: AsyncEngine | None = None
    # The worker's batched transactions (app/services/execution.py), made on first use.
    try_batches: TryBatches | None = None
    reads: SessionFactory = field(init=False)
    # Concurrent creates share one transaction and one Redis round trip.
    creates: Batcher[NewAction, Created] = field(init=False)
    # Concurrent reads of API keys (by hash) share one query: a storm of connections
    # authenticates in a few reads.
    key_reads: Batcher[str, Principal | None] = field(init=False)

    def __post_init__(self) -> None:
        self.reads = create_session_factory(self.read_engine or self.engine)
        self.creates = Batcher(
            functools.partial(write_creates, self), max_size=MAX_CREATE_BATCH, shielded=True
        )
        self.key_reads = Batcher(functools.partial(read_keys, self.reads))

    @classmethod
    async def start(cls, settings: Settings, *, listen: bool) -> Runtime:
        engine = create_engine(settings)
        try:
            await ensure_migrated(engine)
        except BaseException:
            # A worker that could not start tries again: leave nothing open behind.
            await engine.dispose()
            raise
        # Connections are made on first use, so a gateway starts while Redis is down.
        runtime = cls(
            settings,
            engine,
            create_session_factory(engine),
            redis_client(settings),
            read_engine=create_read_engine(settings, engine),
        )
        if listen:
            runtime.bus = EventBus(
                redis_url(settings),
                functools.partial(latest_sequences, runtime.reads),
                check_interval=settings.subscription_check_seconds,
            )
            await runtime.bus.start()
        return runtime

    async def close(self) -> None:
        # Creates already accepted are committed and queued before the clients close.
        await self.creates.idle()
        if self.try_batches is not None:
            await self.try_batches.idle()
        if self.bus is not None:
            await self.bus.stop()
        await self.redis.aclose()
        if self.read_engine is not None and self.read_engine is not self.engine:
            await self.read_engine.dispose()
        await self.engine.dispose()

"""The database engines and sessions: one for writes, and on SQLite one for reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.detached import detached

if TYPE_CHECKING:
    from app.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]
# A connection's execution option for a single SELECT: on SQLite it runs without BEGIN
# IMMEDIATE, as its own snapshot, neither taking nor waiting for the write lock.
SINGLE_READ = "actions_gateway_single_read"

# SQLite readers per process. WAL lets them read beside the writer; each aiosqlite
# connection is a thread, so a few are plenty for one event loop.
SQLITE_READERS: Final = 4


def create_engine(settings: Settings) -> AsyncEngine:
    """The engine every write goes through (on SQLite, the process's one writer)."""
    lock_timeout_ms = int(settings.database_lock_timeout_seconds * 1000)
    if not settings.is_sqlite:
        return create_async_engine(
            settings.database_url,
            # Gateways write in batches (app/services/batching.py), so a request rarely
            # holds a connection for long: the pool need not match the number of clients.
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_pre_ping=True,
            # A lock held too long fails the statement (retried as transient) instead of
            # piling up every request behind it.
            connect_args={
                "server_settings": {"lock_timeout": str(lock_timeout_ms)},
                # Opened as requests need them, kept in the pool after they end.
                "async_creator_fn": detached(asyncpg.connect),
            },
        )
    # SQLite allows one writer: one connection per process, WAL so that readers are not
    # blocked, and BEGIN IMMEDIATE so that two processes never deadlock upgrading a read
    # transaction to a write.
    return _sqlite_engine(settings, pool_size=1, begin="BEGIN IMMEDIATE", query_only=False)


def create_read_engine(settings: Settings, writer: AsyncEngine) -> AsyncEngine:
    """The engine for reads outside a write: on SQLite, query-only connections of their own.

    Reads on the writer's one connection would queue behind every write; WAL lets readers
    see the last commit while a write is in progress. PostgreSQL's pool serves both.
    """
    if not settings.is_sqlite or _in_memory(settings.database_url):
        return writer  # an in-memory database exists only on the writer's connection
    # A deferred BEGIN: a snapshot for the session's statements, and no write lock.
    return _sqlite_engine(settings, pool_size=SQLITE_READERS, begin="BEGIN", query_only=True)


def _in_memory(url: str) -> bool:
    return url.rstrip("/").endswith(":memory:") or url.rstrip("/").endswith("sqlite+aiosqlite:")


def _sqlite_engine(
    settings: Settings, *, pool_size: int, begin: str, query_only: bool
) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url, pool_size=pool_size, max_overflow=0, pool_timeout=60
    )
    lock_timeout_ms = int(settings.database_lock_timeout_seconds * 1000)
    _on_sqlite_connect(engine, lock_timeout_ms, query_only=query_only)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # One statement (SINGLE_READ) needs no transaction at all.
        if not connection.get_execution_options().get(SINGLE_READ):
            connection.exec_driver_sql(begin)

    return engine


def _on_sqlite_connect(engine: AsyncEngine, lock_timeout_ms: int, *, query_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={lock_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if query_only:
            # A read connection that tried to write would be a bug: refuse it loudly.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)

"""The database engine and sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from app.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]
# A connection's execution option for a single SELECT: on SQLite it runs without BEGIN
# IMMEDIATE, as its own snapshot, neither taking nor waiting for the write lock.
SINGLE_READ = "actions_gateway_single_read"


def create_engine(settings: Settings) -> AsyncEngine:
    lock_timeout_ms = int(settings.database_lock_timeout_seconds * 1000)
    if not settings.is_sqlite:
        return create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_pre_ping=True,
            # A lock held too long fails the statement (retried as transient) instead of
            # piling up every request behind it.
            connect_args={"server_settings": {"lock_timeout": str(lock_timeout_ms)}},
        )
    # SQLite allows one writer: one connection per process, WAL so readers in other
    # processes are not blocked, and BEGIN IMMEDIATE so that two processes never
    # deadlock upgrading a read transaction to a write.
    engine = create_async_engine(
        settings.database_url, pool_size=1, max_overflow=0, pool_timeout=60
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={lock_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(SINGLE_READ):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)

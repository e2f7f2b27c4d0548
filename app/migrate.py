"""Bringing the database schema up to date (Alembic, with the migrations shipped in `app/`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = alembic_config_for_scripts()
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings) -> None:
    """Run every pending migration. Must be called outside a running event loop."""
    command.upgrade(alembic_config(settings), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config_for_scripts()).get_current_head()


def alembic_config_for_scripts() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Refuse to start on a database whose schema is behind the code, saying what to run."""
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    head = head_revision()
    if current != head:
        raise RuntimeError(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `actions-gateway migrate`"
        )

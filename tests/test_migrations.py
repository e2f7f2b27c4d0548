"""Alembic migrations run on SQLite and PostgreSQL, both ways, and match the models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

from app.db import create_engine
from app.migrate import alembic_config
from app.settings import Settings
from tests.conftest import admin


@pytest.fixture
async def scratch_settings(database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """An empty database of the same kind as the suite's."""
    if database_url.startswith("sqlite"):
        yield Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
        return
    name = f"agw_scratch_{uuid.uuid4().hex[:12]}"
    await admin(database_url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        yield Settings(database_url=url)
    finally:
        await admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


async def schema_diff(settings: Settings) -> list[Any]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


async def table_names(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: c.dialect.get_table_names(c)))
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade_and_models_match(scratch_settings: Settings) -> None:
    import asyncio

    config = alembic_config(scratch_settings)
    command.upgrade(config, "head")
    assert asyncio.run(schema_diff(scratch_settings)) == [], "models and migrations differ"
    command.downgrade(config, "base")
    assert asyncio.run(table_names(scratch_settings)) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert "action" in asyncio.run(table_names(scratch_settings))

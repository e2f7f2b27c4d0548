"""Configuration, read once from the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the gateway and the worker read; names are the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # SQLite in a file by default; postgresql+asyncpg://... at scale.
    database_url: str = "sqlite+aiosqlite:///./actions-gateway.db"
    # Unset: `dev` starts an embedded Redis and sets this for its own processes.
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    environment: Literal["dev", "production"] = "production"

    # Pool size for PostgreSQL; SQLite always uses a single connection (one writer).
    database_pool_size: int = Field(default=10, ge=1, le=200)

    # Worker tuning: arq's defaults (poll 0.5 s, 10 jobs) make actions start late.
    worker_poll_delay: float = Field(default=0.05, gt=0, le=5)
    worker_max_jobs: int = Field(default=50, ge=1, le=1000)
    # How long one try of an action may run before its lease lapses and the sweeper retries it.
    action_timeout_seconds: int = Field(default=30, ge=1, le=3600)
    # Tries before an action is marked FAILED for good.
    action_max_tries: int = Field(default=5, ge=1, le=100)
    # How often the sweeper looks for actions that were stored but never queued.
    sweep_interval_seconds: int = Field(default=10, ge=1, le=3600)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # A sync driver URL would fail deep inside the engine; refuse it here with the fix.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not (
            value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")
        ):
            raise ValueError(
                "DATABASE_URL must be sqlite+aiosqlite://... or postgresql+asyncpg://..."
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()

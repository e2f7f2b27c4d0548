"""Configuration, read once from the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What `dev` lets call it besides CORS_ORIGINS: a front end on any local port.
DEV_ORIGIN_REGEX = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"


def _not_an_origin(text: str) -> ValueError:
    return ValueError(
        f"{text[:80]!r} is not an origin: expected scheme://host[:port], "
        "e.g. https://app.example.com (no path), or *"
    )


def normalize_origin(value: str) -> str:
    """An origin as browsers send it in `Origin` (lowercase, no default port), or ValueError."""
    text = value.strip()
    if text == "*":
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _not_an_origin(text) from None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise _not_an_origin(text)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


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
    # Unset: JSON lines, except under `dev`, which logs for people to read.
    log_format: Literal["json", "text"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Pool size for PostgreSQL; SQLite always uses a single connection (one writer).
    database_pool_size: int = Field(default=10, ge=1, le=200)

    # Worker tuning: arq's defaults (poll 0.5 s, 10 jobs) make actions start late.
    worker_poll_delay: float = Field(default=0.05, gt=0, le=5)
    worker_max_jobs: int = Field(default=50, ge=1, le=1000)
    # The worker's event loop: uvloop when it is installed (as uvicorn picks for the gateway).
    worker_event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # How long one try of an action may run before its lease lapses and the sweeper retries it.
    action_timeout_seconds: int = Field(default=30, ge=1, le=3600)
    # Tries before an action is marked FAILED for good.
    action_max_tries: int = Field(default=5, ge=1, le=100)
    # How often the sweeper looks for actions that were stored but never queued.
    sweep_interval_seconds: int = Field(default=10, ge=1, le=3600)
    # Backoff after a transient error: about base * 2^(tries - 1), with jitter, at most max.
    action_retry_base_seconds: float = Field(default=0.5, gt=0, le=600)
    action_retry_max_seconds: float = Field(default=30, gt=0, le=3600)
    # Finished actions older than this are deleted (their effects stay); 0 keeps them forever.
    action_retention_days: int = Field(default=30, ge=0, le=36500)

    # A stopping worker lets running actions finish for this long, then hands them back.
    worker_shutdown_seconds: float = Field(default=30, ge=0, le=3600)
    # A worker that cannot reach Redis (or, at start, the database) for this long exits
    # non-zero for its supervisor.
    worker_redis_outage_seconds: float = Field(default=60, ge=0, le=86400)
    # How long a statement waits for a lock before it fails (and its try is retried).
    database_lock_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    # How often a gateway checks the database for action changes its subscribers missed
    # (an event lost between a commit and its publication).
    subscription_check_seconds: float = Field(default=5, gt=0, le=3600)

    # Browser origins allowed to call the gateway (HTTP and WebSocket), comma-separated.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Cookies and HTTP auth across origins; API keys travel in Authorization, which needs none.
    cors_allow_credentials: bool = False

    # Automatic persisted queries, shared by every gateway through Redis. The bound on memory
    # is apq_max_queries * apq_max_query_bytes; the least recently used are forgotten first.
    apq_max_queries: int = Field(default=5000, ge=1, le=1_000_000)
    apq_max_query_bytes: int = Field(default=16384, ge=256, le=1_048_576)
    apq_ttl_seconds: int = Field(default=86400, ge=60, le=30 * 86400)

    # Requests per API key: at most RATE_LIMIT_REQUESTS in any RATE_LIMIT_WINDOW_SECONDS,
    # counted in Redis so that the limit holds across every gateway process.
    rate_limit_requests: int = Field(default=600, ge=1, le=1_000_000)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86_400)
    # How long one GraphQL request may run before it is stopped with a TIMEOUT error.
    request_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # WebSockets: time allowed to send `connection_init`, and caps against one client
    # holding a gateway's memory (per connection, and per API key on each gateway).
    ws_init_timeout_seconds: float = Field(default=10, gt=0, le=300)
    ws_max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    ws_max_connections_per_key: int = Field(default=20, ge=1, le=10_000)
    # WebSocket operations each gateway process sets up at once; more wait their turn. A turn
    # ends when the operation waits for changes or ends, or after the patience (a slow query,
    # a long replay), so this bounds a reconnect storm's peak memory, not how many subscriptions a
    # gateway serves.
    ws_starts_at_once: int = Field(default=16, ge=1, le=10_000)
    ws_start_patience_seconds: float = Field(default=1, gt=0, le=300)
    # uvicorn's WebSocket implementation, and whether it offers permessage-deflate. Sans-I/O
    # websockets needs no tasks per connection (about 8 KiB less each), and only with it are
    # live events written straight to the socket (app/ws_protocol.py); deflate is off: a
    # zlib context per connection costs more memory than small JSON frames save.
    ws_protocol: Literal["websockets", "websockets-sansio", "wsproto"] = "websockets-sansio"
    ws_per_message_deflate: bool = False
    # How often each gateway re-checks the keys of its open WebSockets, in case it missed a
    # revocation announced on Redis: the bound on how long a revoked key's socket stays open.
    key_recheck_seconds: float = Field(default=5, gt=0, le=3600)

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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("CORS_ORIGINS must be a comma-separated list of origins")
        origins = [normalize_origin(str(item)) for item in items if str(item).strip()]
        return list(dict.fromkeys(origins))

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        # A browser would send the user's cookies to any site's requests: never allow that.
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS='*' cannot be combined with CORS_ALLOW_CREDENTIALS=true: "
                "list the origins that may send credentials"
            )
        return self

    @model_validator(mode="after")
    def _backoff_bounds(self) -> Settings:
        if self.action_retry_max_seconds < self.action_retry_base_seconds:
            raise ValueError("ACTION_RETRY_MAX_SECONDS must be at least ACTION_RETRY_BASE_SECONDS")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origin_regex(self) -> str | None:
        """Origins allowed by pattern (whole match): in dev, local front ends on any port."""
        return DEV_ORIGIN_REGEX if self.environment == "dev" else None

    @property
    def is_production(self) -> bool:
        """Production hides introspection and "did you mean" suggestions; `dev` shows both."""
        return self.environment != "dev"


@lru_cache
def get_settings() -> Settings:
    return Settings()

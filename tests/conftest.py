"""Real services for the tests: a database, a Redis, and a running gateway with a worker.

With DATABASE_URL / REDIS_URL unset: a SQLite file and an embedded Redis, as on a fresh
machine. With them set: that PostgreSQL (in a fresh database made for this run) and that
Redis (whose database is flushed first: do not point the tests at one you need).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis import Redis
from sqlalchemy.engine import make_url

from app.embedded_redis import EmbeddedRedis
from app.runtime import Runtime
from app.services.api_keys import create_company
from app.settings import Settings
from tests.browser import Chromium, chromium_path
from tests.support import (
    ALLOWED_ORIGIN,
    ROOT,
    Caller,
    command,
    free_port,
    start_process,
    stop_process,
    wait_http,
)

# Private deployments for the tests that kill processes (tests/cluster.py).
pytest_plugins = ["tests.cluster"]

# Short timings so that recovery paths are exercised in seconds, not minutes. Revoked keys'
# sockets are re-checked only hourly here, so that the tests see the announcement on Redis
# close them by itself (the re-check has its own gateway in tests/test_keys.py).
TEST_TIMINGS = {
    "ACTION_TIMEOUT_SECONDS": "5",
    "SWEEP_INTERVAL_SECONDS": "1",
    "SUBSCRIPTION_CHECK_SECONDS": "1",
    "KEY_RECHECK_SECONDS": "3600",
}
# Kept after the run (and by CI): the browser tests' screenshots and the browser's log.
SCREENSHOTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        Redis.from_url(url).flushdb()
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


async def admin(url: str, statement: str) -> None:
    """Run a statement outside a transaction (CREATE/DROP DATABASE) on PostgreSQL."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def database_url(artifacts: Path) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{artifacts / 'test.db'}"
        return
    # A fresh database per run, beside the one named, so that runs never see each other's rows.
    base = Settings(database_url=url).database_url
    name = f"agw_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of every process the tests start."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CORS_ORIGINS": ALLOWED_ORIGIN,
        **TEST_TIMINGS,
    }


@pytest.fixture(scope="session")
def settings(env: dict[str, str]) -> Settings:
    return Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def migrated(env: dict[str, str]) -> None:
    result = subprocess.run(
        command("migrate"), env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
async def runtime(settings: Settings, migrated: None) -> AsyncIterator[Runtime]:
    """In-process clients, for tests that call the services directly."""
    rt = await Runtime.start(settings, listen=False)
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def gateway(env: dict[str, str], migrated: None, artifacts: Path) -> Iterator[str]:
    """A real gateway (uvicorn) and a real worker process; the gateway's base URL."""
    port = free_port()
    log = artifacts / "gateway.log"
    server = start_process(command("serve"), {**env, "PORT": str(port)}, log)
    worker = start_process(command("worker"), env, artifacts / "worker.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(worker)
        stop_process(server)


@pytest.fixture(scope="session")
def dev_gateway(env: dict[str, str], migrated: None, artifacts: Path) -> Iterator[str]:
    """A second gateway on the same database and Redis, in dev mode; its base URL."""
    port = free_port()
    server = start_process(
        command("serve"),
        {**env, "PORT": str(port), "ENVIRONMENT": "dev"},
        artifacts / "dev-gateway.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(server)


@pytest.fixture(scope="session")
def gateway_log(gateway: str, artifacts: Path) -> Path:
    """The shared gateway's log: its access log shows every response's status."""
    return artifacts / "gateway.log"


@pytest.fixture(scope="session")
def start_gateway(
    env: dict[str, str], migrated: None, artifacts: Path
) -> Iterator[Callable[..., str]]:
    """Start another gateway with some settings changed (`NAME=value`); its base URL.

    For the tests of limits that the shared gateway's settings keep out of reach. Every
    gateway started here stops at the end of the session.
    """
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, **overrides: str) -> str:
        port = free_port()
        log = artifacts / f"gateway-{name}.log"
        processes.append(
            start_process(command("serve"), {**env, **overrides, "PORT": str(port)}, log)
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        stop_process(process)


# Settings of the "tight" gateway, kept small so that its limits are reached in a few steps.
TIGHT = {
    "WS_INIT_TIMEOUT_SECONDS": "1",
    "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": "3",
    "WS_MAX_CONNECTIONS_PER_KEY": "3",
    "KEY_RECHECK_SECONDS": "1",
}


@pytest.fixture(scope="session")
def tight_gateway(start_gateway: Callable[..., str]) -> str:
    return start_gateway("tight", **TIGHT)


@pytest.fixture
async def caller(gateway: str, runtime: Runtime) -> Caller:
    """A new company of its own for each test: tenancy keeps tests apart."""
    company, key = await create_company(runtime.sessions, f"Company {uuid.uuid4().hex[:8]}")
    return Caller(gateway, str(company.id), key)


@pytest.fixture
async def other_caller(gateway: str, runtime: Runtime) -> Caller:
    company, key = await create_company(runtime.sessions, "Another company")
    return Caller(gateway, str(company.id), key)


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """Headless Chromium. Skipped only on a machine without it; in CI it must be there."""
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    async with Chromium.launch(SCREENSHOTS / "chromium.log") as chromium:
        yield chromium

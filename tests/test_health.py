"""`/healthz` and `/readyz`, on gateways whose database or Redis is really gone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.embedded_redis import EmbeddedRedis
from tests.support import command, free_port, start_process, stop_process, wait_http


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    process = start_process(command("serve"), {**env, "PORT": str(port)}, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        # uvicorn ends by re-raising the signal it caught, once it has shut down cleanly.
        assert stop_process(process) in (0, -signal.SIGTERM), log.read_text()


async def test_ready_when_database_and_redis_answer(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_not_ready_names_redis_when_it_stops(
    env: dict[str, str], migrated: None, tmp_path: Path
) -> None:
    redis = EmbeddedRedis()
    redis.start()
    try:
        with serve({**env, "REDIS_URL": redis.url}, tmp_path / "gateway.log") as url:
            assert httpx.get(f"{url}/readyz").status_code == 200
            redis.stop()
            response = httpx.get(f"{url}/readyz")
            # Still alive: only readiness says that it cannot work now.
            assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        redis.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable (")


def test_not_ready_names_the_database_while_it_does_not_answer(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A database of its own, so that locking it stops only this gateway (whatever the suite's is).
    path = tmp_path / "gateway.db"
    own = {**env, "DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    migrated = subprocess.run(
        command("migrate"), env={**os.environ, **own}, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    with serve(own, tmp_path / "gateway.log") as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        # Another process holds the write lock: the gateway's database answers nothing.
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            response = httpx.get(f"{url}/readyz", timeout=60)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        wait_http(f"{url}/readyz")  # ready again, by itself, once the lock is gone
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"] == {"database": "timeout", "redis": "ok"}

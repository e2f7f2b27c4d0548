"""A private deployment for tests that kill things: its own database and its own embedded
Redis, with gateways and workers that the test starts, kills and restarts.

Nothing is shared with the session's gateway and worker, whose sweeper would otherwise take
up the actions a test means to leave stranded. The database is copied from a template
migrated once per run (a file copy for SQLite, `CREATE DATABASE ... TEMPLATE` for
PostgreSQL); Redis is always embedded, so that a test can stop it and start it again on the
same port, even when the rest of the suite runs against a shared Redis server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, func, select

from app.embedded_redis import EmbeddedRedis
from app.faults import FAULT_VARIABLE, MARKER_VARIABLE, Fault
from app.models import Action, ActionStatus, DashboardNotification, Note, Tag
from app.runtime import Runtime
from app.services import hiring
from app.services.api_keys import create_company
from app.settings import Settings
from tests.support import Caller, command, free_port, start_process, wait_http

T = TypeVar("T")

# Recovery in seconds: a try's lease is ACTION_TIMEOUT_SECONDS + 5 s.
CLUSTER_TIMINGS = {
    "ACTION_TIMEOUT_SECONDS": "5",
    "SWEEP_INTERVAL_SECONDS": "1",
    "SUBSCRIPTION_CHECK_SECONDS": "1",
    "ACTION_RETRY_BASE_SECONDS": "0.2",
    "ACTION_RETRY_MAX_SECONDS": "1",
    "WORKER_SHUTDOWN_SECONDS": "20",
    "WORKER_REDIS_OUTAGE_SECONDS": "120",
}
# Generous: the machine is shared and noisy. Waits end as soon as the condition holds.
PATIENCE = 90.0


async def admin(url: str, statement: str) -> None:
    """Run a statement on the server of `url`, from its maintenance database."""
    maintenance = make_url(url).set(database="postgres", drivername="postgresql")
    connection = await asyncpg.connect(maintenance.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Template:
    """A migrated database that clusters copy."""

    url: str
    is_sqlite: bool

    async def copy(self, directory: Path) -> str:
        if self.is_sqlite:
            source = Path(make_url(self.url).database or "")
            target = directory / "cluster.db"
            shutil.copyfile(source, target)
            return f"sqlite+aiosqlite:///{target}"
        name = f"agw_cluster_{uuid.uuid4().hex[:12]}"
        template = make_url(self.url).database
        await admin(self.url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    async def drop(self, url: str) -> None:
        if not self.is_sqlite:
            name = make_url(url).database
            await admin(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def cluster_template(artifacts: Path) -> Iterator[Template]:
    base = os.environ.get("DATABASE_URL")
    if not base or base.startswith("sqlite"):
        template = Template(f"sqlite+aiosqlite:///{artifacts / 'cluster-template.db'}", True)
        created = None
    else:
        base = Settings(database_url=base).database_url
        created = f"agw_template_{uuid.uuid4().hex[:12]}"
        asyncio.run(admin(base, f'CREATE DATABASE "{created}"'))
        url = make_url(base).set(database=created).render_as_string(hide_password=False)
        template = Template(url, False)
    migrated = subprocess.run(
        command("migrate"),
        env={**os.environ, "DATABASE_URL": template.url},
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    try:
        yield template
    finally:
        if created is not None and base is not None:
            asyncio.run(admin(base, f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))


@dataclass
class Cluster:
    database_url: str
    redis: EmbeddedRedis
    directory: Path
    runtime: Runtime
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            **CLUSTER_TIMINGS,
            **extra,
        }

    def marker(self, name: str) -> Path:
        return self.directory / f"{name}.paused"

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start_worker(
        self, name: str = "worker", fault: Fault | None = None, **extra: str
    ) -> subprocess.Popen[bytes]:
        if fault is not None:
            extra = {FAULT_VARIABLE: fault.value, MARKER_VARIABLE: str(self.marker(name)), **extra}
        process = start_process(command("worker"), self.env(**extra), self.log(name))
        self.processes.append(process)
        return process

    def start_gateway(self, name: str = "gateway", **extra: str) -> str:
        port = free_port()
        process = start_process(command("serve"), self.env(PORT=str(port), **extra), self.log(name))
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz")
        return url

    async def stop(self, process: subprocess.Popen[bytes], name: str) -> None:
        """SIGTERM, and the process must end cleanly (status 0)."""
        process.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.to_thread(process.wait, PATIENCE)
        except subprocess.TimeoutExpired:
            status = None
        if status != 0:
            tail = "\n".join((_read(self.log(name)) or "").splitlines()[-30:])
            raise AssertionError(f"{name} ended with {status}; its log ends:\n{tail}")

    async def company(self, base_url: str = "") -> Caller:
        company, key = await create_company(self.runtime.sessions, f"Co {uuid.uuid4().hex[:8]}")
        return Caller(base_url, str(company.id), key)

    async def app(self, company_id: int) -> int:
        """A job and an application in the company: what actions act on."""
        job = await hiring.create_job(self.runtime, company_id, "Engineer")
        assert job.id is not None
        app = await hiring.create_app(self.runtime, company_id, job.id, "Ada Lovelace")
        assert app.id is not None
        return app.id

    async def action(self, action_id: int) -> Action:
        async with self.runtime.sessions() as session:
            row = await session.get(Action, action_id)
        assert row is not None
        return row

    async def wait_for_status(
        self, action_id: int, *statuses: ActionStatus, timeout: float = PATIENCE
    ) -> Action:
        async def reached() -> Action | None:
            row = await self.action(action_id)
            return row if row.status in statuses else None

        return await eventually(reached, timeout, f"action {action_id} to be {statuses}")

    async def effects(self, action_ids: list[int]) -> int:
        """Tags, notes and notifications made by these actions."""
        total = 0
        async with self.runtime.sessions() as session:
            for table in (Note, Tag, DashboardNotification):
                column = col(table.action_id)
                count = await session.scalar(
                    select(func.count()).select_from(table).where(column.in_(action_ids))
                )
                total += int(count or 0)
        return total


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Poll until `probe` gives a value; fail after `timeout` (a liveness bound only)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _read(path: Path) -> str | None:
    return path.read_text(errors="replace") if path.exists() else None


async def wait_for_file(path: Path, timeout: float = PATIENCE) -> str:
    async def exists() -> str | None:
        # Not before its content: the writer creates the file, then writes it.
        return await asyncio.to_thread(_read, path) or None

    return await eventually(exists, timeout, f"{path.name} to appear")


def kill(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL: no handler runs, nothing is cleaned up."""
    process.send_signal(signal.SIGKILL)
    return process.wait(30)


@pytest.fixture
async def cluster(cluster_template: Template, tmp_path: Path) -> AsyncIterator[Cluster]:
    database_url = await cluster_template.copy(tmp_path)
    redis = EmbeddedRedis()
    redis.start()
    settings = Settings(database_url=database_url, redis_url=redis.url)
    runtime = await Runtime.start(settings, listen=False)
    deployment = Cluster(database_url, redis, tmp_path, runtime)
    try:
        yield deployment
    finally:
        for process in deployment.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        await runtime.close()
        redis.stop()
        await cluster_template.drop(database_url)


@contextlib.asynccontextmanager
async def database_outage(cluster: Cluster) -> AsyncIterator[None]:
    """The cluster's database stops serving its clients until the block ends.

    SQLite: another connection holds the write lock (readers still read). PostgreSQL: the
    database refuses connections and every open session is ended.
    """
    if cluster.is_sqlite:
        path = make_url(cluster.database_url).database
        assert path is not None
        lock = sqlite3.connect(path, isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    name = make_url(cluster.database_url).database
    await admin(cluster.database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin(
        cluster.database_url,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
    )
    try:
        yield
    finally:
        await admin(cluster.database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def wait_for_log(cluster: Cluster, name: str, text: str, timeout: float = PATIENCE) -> None:
    """Wait until a process of the cluster has logged `text`."""

    async def logged() -> bool | None:
        return True if text in (await asyncio.to_thread(_read, cluster.log(name)) or "") else None

    try:
        await eventually(logged, timeout, f"{name} to log {text!r}")
    except AssertionError as exc:
        tail = "\n".join((_read(cluster.log(name)) or "").splitlines()[-30:])
        raise AssertionError(f"{exc}; its log ends:\n{tail}") from None

"""The deployment under test: its database, its Redis, and the processes that serve it.

The database is a fresh one: a SQLite file in the run's directory, or, with DATABASE_URL
naming PostgreSQL, a database made on that server for this run and dropped after it. Redis is
an embedded one of our own; with `--shared-redis`, an empty database number claimed on
REDIS_URL's server (never one that holds data: only what the run wrote is flushed). Not by
default: pub/sub channels belong to the whole server, not to a database number, so the run's
events (`actions:{company}`) would reach any other gateway on that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncpg
from redis import Redis
from sqlalchemy.engine import make_url

from app.embedded_redis import EmbeddedRedis, free_port
from app.settings import Settings
from bench.procs import ROOT, Service, bench_command, product_command, wait_http

# The product's limits are for real clients; the benchmark is one very busy client.
PRODUCT_ENV: Final = {
    "RATE_LIMIT_REQUESTS": "1000000",
    "RATE_LIMIT_WINDOW_SECONDS": "1",
    "WS_MAX_CONNECTIONS_PER_KEY": "10000",
    "LOG_FORMAT": "json",
}
CLAIM_KEY: Final = "actions-gateway-bench:claim"
# Database numbers tried on a shared Redis, from the last down.
CLAIMABLE_DATABASES: Final = range(15, 0, -1)


async def _admin(url: str, statement: str) -> None:
    """Run a statement on the server of `url`, from its maintenance database."""
    maintenance = make_url(url).set(database="postgres", drivername="postgresql")
    connection = await asyncpg.connect(maintenance.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class BenchRedis:
    """A Redis for this run alone: embedded, or an empty database of REDIS_URL's server."""

    def __init__(self, shared_url: str | None) -> None:
        self._shared_url = shared_url
        self._embedded: EmbeddedRedis | None = None
        self.url = ""
        self.kind = ""

    def start(self) -> None:
        if self._shared_url is None:
            self._embedded = EmbeddedRedis()
            self._embedded.start()
            self.url, self.kind = self._embedded.url, "embedded"
            return
        token = uuid.uuid4().hex
        base = make_url(self._shared_url)
        for number in CLAIMABLE_DATABASES:
            url = base.set(database=str(number)).render_as_string(hide_password=False)
            client = Redis.from_url(url)
            try:
                if client.set(CLAIM_KEY, token, nx=True) and client.dbsize() == 1:
                    self.url, self.kind = url, f"REDIS_URL's server, database {number}"
                    return
                if client.get(CLAIM_KEY) == token.encode():
                    client.delete(CLAIM_KEY)
            finally:
                client.close()
        raise RuntimeError("no empty Redis database to use on REDIS_URL's server")

    def flush(self) -> None:
        """Forget everything the run wrote (the database held nothing else)."""
        client = Redis.from_url(self.url)
        try:
            client.flushdb()
            if self._embedded is None:
                client.set(CLAIM_KEY, "held")
        finally:
            client.close()

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
        elif self.url:
            with contextlib.suppress(Exception):
                client = Redis.from_url(self.url)
                client.flushdb()
                client.close()


class BenchDatabase:
    """A fresh database: a SQLite file in `directory`, or one made on DATABASE_URL's server."""

    def __init__(self, given_url: str | None, directory: Path) -> None:
        self._created: str | None = None
        self._base: str | None = None
        if given_url and not given_url.startswith("sqlite"):
            self._base = Settings(database_url=given_url).database_url
            self._created = f"agw_bench_{uuid.uuid4().hex[:12]}"
            self.url = (
                make_url(self._base)
                .set(database=self._created)
                .render_as_string(hide_password=False)
            )
            self.kind = "postgresql"
        else:
            self.url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
            self.kind = "sqlite"

    def create(self) -> None:
        if self._base is not None:
            asyncio.run(_admin(self._base, f'CREATE DATABASE "{self._created}"'))

    def drop(self) -> None:
        if self._base is not None:
            with contextlib.suppress(Exception):
                asyncio.run(
                    _admin(self._base, f'DROP DATABASE IF EXISTS "{self._created}" WITH (FORCE)')
                )


@dataclass
class Deployment:
    """The product (gateway, worker), the two baselines, and what they run on."""

    directory: Path
    database: BenchDatabase
    redis: BenchRedis
    services: dict[str, Service] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The environment of every process of the run (settings come from it)."""
        return {"DATABASE_URL": self.database.url, "REDIS_URL": self.redis.url, **PRODUCT_ENV}

    @property
    def settings(self) -> Settings:
        return Settings(**{k.lower(): v for k, v in self.env.items()})  # type: ignore[arg-type]

    def prepare(self) -> None:
        """Redis up, the database made and migrated with the product's own command."""
        self.redis.start()
        self.database.create()
        self.run_product("migrate")

    def run_product(self, *args: str) -> str:
        """Run an `actions-gateway` command to its end; its standard output."""
        result = subprocess.run(
            product_command(*args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"actions-gateway {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def create_company(self, name: str) -> tuple[int, str]:
        """A company and its API key, by `actions-gateway companies create NAME --json`."""
        made = json.loads(self.run_product("companies", "create", name, "--json"))
        return int(made["company_id"]), str(made["api_key"])

    def _service(self, name: str, args: list[str], port: int | None = None) -> Service:
        env = dict(self.env)
        if port is not None:
            env["PORT"] = str(port)
            self.ports[name] = port
        service = Service(name, args, env, self.directory / f"{name}.log")
        self.services[name] = service
        return service.start()

    def start_servers(self) -> None:
        """The gateway (`actions-gateway serve`) and both baselines, each on its own port."""
        started = [
            self._service("product", product_command("serve"), free_port()),
            self._service("floor", bench_command("floor"), free_port()),
            self._service("graphql_core", bench_command("graphql_core_app"), free_port()),
        ]
        for service in started:
            wait_http(self.url(service.name, "/healthz"), service)

    def restart(self, name: str) -> Service:
        """A server started afresh on its port (its memory then owes nothing to earlier load)."""
        old = self.services[name]
        old.stop()
        service = self._service(name, old.args, self.ports[name])
        wait_http(self.url(name, "/healthz"), service)
        return service

    def start_worker(self) -> Service:
        worker = self.services.get("worker")
        if worker is not None and worker.running:
            return worker
        return self._service("worker", product_command("worker"))

    def stop_worker(self) -> None:
        worker = self.services.get("worker")
        if worker is not None:
            worker.stop()

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def close(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.redis.stop()
        self.database.drop()

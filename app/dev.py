"""`actions-gateway dev`: the whole product on one machine with nothing installed.

SQLite in a file, an embedded Redis, the schema migrated, a development company and key,
then the gateway and a worker in one process. Ctrl-C stops all of it: the worker finishes
the actions it is running, the gateway closes its connections, Redis is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from sqlmodel import col, select

from app.db import create_engine, create_session_factory
from app.embedded_redis import EmbeddedRedis
from app.main import create_app
from app.migrate import upgrade
from app.models import Company
from app.server import GatewayServer, uvicorn_config
from app.services.api_keys import new_key, store_known_key
from app.settings import Settings
from worker.runner import run as run_worker

DEV_COMPANY = "Development"


def dev_key_file(settings: Settings) -> Path:
    """The development key lives beside the SQLite file, so it survives restarts."""
    if settings.is_sqlite:
        return Path(settings.database_url.split("///", 1)[1]).with_suffix(".dev-key")
    return Path(".actions-gateway.dev-key")


async def ensure_dev_key(settings: Settings) -> str:
    path = dev_key_file(settings)
    key = path.read_text().strip() if path.exists() else new_key()
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine).begin() as session:
            company_id = await session.scalar(
                select(col(Company.id)).where(col(Company.name) == DEV_COMPANY)
            )
            if company_id is None:
                company = Company(name=DEV_COMPANY)
                session.add(company)
                await session.flush()
                company_id = company.id
            assert company_id is not None
            await store_known_key(session, company_id, key, label="dev")
    finally:
        await engine.dispose()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


class _Server(GatewayServer):
    # Signals are handled by run_all, which stops the worker too.
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


async def run_all(settings: Settings, dev_api_key: str) -> None:
    app = create_app(settings, dev_api_key=dev_api_key)
    server = _Server(uvicorn_config(app, settings), app.state.websockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server_task = asyncio.create_task(server.serve())
    # The worker lets running actions finish (bounded) when `stop` is set.
    worker_task = asyncio.create_task(run_worker(settings, stop=stop))
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({server_task, worker_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await worker_task
    # Then stop taking HTTP requests.
    server.should_exit = True
    await server_task


def run_dev(settings: Settings) -> None:
    settings = settings.model_copy(update={"environment": "dev"})
    with contextlib.ExitStack() as stack:
        if settings.redis_url is None:
            redis = stack.enter_context(EmbeddedRedis())
            settings = settings.model_copy(update={"redis_url": redis.url})
        upgrade(settings)
        key = asyncio.run(ensure_dev_key(settings))
        host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host
        print(
            f"\n  actions gateway (dev)\n"
            f"  status board:     http://{host}:{settings.port}/\n"
            f"  GraphQL explorer: http://{host}:{settings.port}/graphql\n"
            f"  API key:          {key}\n"
            f"  (send it as  Authorization: Bearer {key})\n"
            f"  database:         {settings.database_url}\n"
            f"  redis:            {settings.redis_url}\n",
            flush=True,
        )
        asyncio.run(run_all(settings, key))

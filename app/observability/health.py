"""Health checks: `/healthz` (the process answers) and `/readyz` (it can do its work)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import text
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from starlette.requests import Request

    from app.runtime import Runtime

log = logging.getLogger(__name__)

# Longer than a healthy check ever takes; short enough for a load balancer's probe.
CHECK_TIMEOUT: Final = 3.0


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _database(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis(runtime: Runtime) -> None:
    await runtime.redis.ping()


CHECKS: Final[dict[str, Callable[[Runtime], Coroutine[Any, Any, None]]]] = {
    "database": _database,
    "redis": _redis,
}


class Readiness:
    """`/readyz`. A check that overruns is reported at once and left to finish on its own:
    a database waiting on a lock cannot be interrupted, only stopped waiting for. At most
    one check of each part runs at a time, so that a hung part costs one connection."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[None]] = {}

    async def _check(self, name: str, runtime: Runtime) -> str:
        task = self._running.get(name)
        if task is None:
            task = asyncio.create_task(CHECKS[name](runtime), name=f"readiness-{name}")
            self._running[name] = task
            task.add_done_callback(lambda t: self._finished(name, t))
        done, _ = await asyncio.wait({task}, timeout=CHECK_TIMEOUT)
        if not done:
            log.warning("readiness: %s did not answer within %ss", name, CHECK_TIMEOUT)
            return "timeout"
        exc = task.exception()
        if exc is not None:
            # The details (hosts, ports) go to the log, not to whoever may call this endpoint.
            log.warning("readiness: %s unreachable: %s", name, exc)
            return f"unreachable ({type(exc).__name__})"
        return "ok"

    def _finished(self, name: str, task: asyncio.Task[None]) -> None:
        if self._running.get(name) is task:
            del self._running[name]
        if not task.cancelled():
            task.exception()  # retrieved here too, for checks that nobody waited for to the end

    async def endpoint(self, request: Request) -> Response:
        """200 when the database and Redis both answer; 503 naming each part that does not."""
        runtime: Runtime = request.app.state.runtime
        results = await asyncio.gather(*(self._check(name, runtime) for name in CHECKS))
        checks = dict(zip(CHECKS, results, strict=True))
        failing = [name for name, result in checks.items() if result != "ok"]
        body: dict[str, object] = {
            "status": "unavailable" if failing else "ready",
            "checks": checks,
        }
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

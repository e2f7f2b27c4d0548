"""Health checks: `/healthz` (the process answers) and `/readyz` (it can do its work)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

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


CHECKS: Final[dict[str, Callable[[Runtime], Awaitable[None]]]] = {
    "database": _database,
    "redis": _redis,
}


async def _check(name: str, runtime: Runtime) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await CHECKS[name](runtime)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %ss", name, CHECK_TIMEOUT)
        return "timeout"
    except Exception as exc:
        # The details (hosts, ports) go to the log, not to whoever may call this endpoint.
        log.warning("readiness: %s unreachable: %s", name, exc)
        return f"unreachable ({type(exc).__name__})"
    return "ok"


async def readyz(request: Request) -> Response:
    """200 when the database and Redis both answer; 503 naming each part that does not."""
    runtime: Runtime = request.app.state.runtime
    results = await asyncio.gather(*(_check(name, runtime) for name in CHECKS))
    checks = dict(zip(CHECKS, results, strict=True))
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)

"""Serving a baseline exactly as `actions-gateway serve` serves the product."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.observability.logs import configure_logging
from app.server import uvicorn_config
from app.settings import Settings, get_settings
from bench.handwritten import Clients


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code, media_type="application/json")


async def healthz(_request: Request) -> Response:
    return json_response({"status": "ok"})


def clients_of(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


Background = Callable[[Starlette, Clients], Coroutine[Any, Any, None]]


def baseline_app(
    routes: list[BaseRoute], settings: Settings, background: Background | None = None
) -> Starlette:
    """An app with the routes and a lifespan that owns the clients (engine, Redis), and runs
    `background`'s coroutine while it serves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.clients = clients = Clients.start(settings)
        task = None if background is None else asyncio.create_task(background(app, clients))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await clients.close()

    return Starlette(routes=[Route("/healthz", healthz), *routes], lifespan=lifespan)


def serve(build: Callable[[Settings], Starlette]) -> None:
    """Settings from the environment, JSON logs, and the product's uvicorn configuration
    (uvloop and httptools, chosen by uvicorn as they are for the product)."""
    settings = get_settings()
    configure_logging("json", settings.log_level)
    uvicorn.Server(uvicorn_config(build(settings), settings)).run()

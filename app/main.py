"""The one place that assembles the ASGI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from app import rest
from app.cors import cors_middleware
from app.graphql.schema import schema
from app.graphql.view import GraphQLView
from app.runtime import Runtime
from app.settings import Settings, get_settings


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def index(_: Request) -> Response:
    return RedirectResponse("/graphql")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, listen=True)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.close()

    graphql = GraphQLView(
        schema,
        keep_alive=True,
        keep_alive_interval=15,
        # Browsers do not apply CORS to WebSocket handshakes: the view checks Origin itself.
        allowed_origins=settings.cors_origins,
        allowed_origin_regex=settings.cors_origin_regex,
    )
    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        rest.mount(),
    ]
    return Starlette(routes=routes, middleware=[cors_middleware(settings)], lifespan=lifespan)

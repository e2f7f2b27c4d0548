"""The one place that assembles the ASGI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app import rest
from app.cors import cors_middleware
from app.graphql.schema import build_schema
from app.graphql.view import GraphQLView
from app.observability.health import Readiness, healthz
from app.observability.metrics import GatewayMetrics, metrics_endpoint
from app.observability.middleware import RequestObservability
from app.runtime import Runtime
from app.security.connections import Connections
from app.security.revocation import RevocationWatcher
from app.server import OpenWebSockets, TrackWebSockets
from app.settings import Settings, get_settings
from app.web.pages import STATIC, board


def create_app(settings: Settings | None = None, *, dev_api_key: str | None = None) -> Starlette:
    """The gateway. `dev_api_key` is given only by `actions-gateway dev`, for the pages."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, listen=True)
        app.state.runtime = runtime
        watcher = RevocationWatcher(runtime, app.state.connections)
        await watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await runtime.close()

    schema = build_schema(
        production=settings.is_production,
        request_timeout_seconds=settings.request_timeout_seconds,
    )
    graphql = GraphQLView(
        schema,
        keep_alive=True,
        keep_alive_interval=15,
        # Browsers do not apply CORS to WebSocket handshakes: the view checks Origin itself.
        allowed_origins=settings.cors_origins,
        allowed_origin_regex=settings.cors_origin_regex,
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
    )
    metrics = GatewayMetrics()
    websockets = OpenWebSockets()
    routes = [
        Route("/", board),
        Route("/healthz", healthz),
        Route("/readyz", Readiness().endpoint),
        Route("/metrics", metrics_endpoint),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        rest.mount(),
        # The pages' scripts and styles (GraphiQL's are large: compress them).
        Mount("/static", GZipMiddleware(StaticFiles(directory=STATIC)), name="static"),
    ]
    middleware = [
        # Outermost, so that every answer, a CORS preflight's too, has an id and a time.
        Middleware(RequestObservability, metrics=metrics),
        cors_middleware(settings),
        Middleware(TrackWebSockets, registry=websockets),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.metrics = metrics
    app.state.websockets = websockets
    app.state.dev_api_key = dev_api_key
    # Authenticated WebSockets by API key: capped per key, closed when their key is revoked.
    app.state.connections = Connections(settings.ws_max_connections_per_key)
    return app

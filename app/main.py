"""The one place that assembles the ASGI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import rest
from app.cors import cors_middleware
from app.graphql.schema import build_schema
from app.graphql.starts import StartGate
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

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

GRAPHQL_PATH: Final = "/graphql"


class Gateway(Starlette):
    """Starlette, with GraphQL's WebSockets let in ahead of the HTTP stack.

    An open WebSocket holds every layer it came through for its whole life: the error and
    CORS middleware, the exception handlers, the router and its route, about 5 KiB for each
    idle subscriber, and none of them acts on a WebSocket once it is open. A WebSocket to
    `/graphql` goes straight to `graphql_websocket`: the view, with what it needs of the
    rest (a request id, and the register of open sockets). Any other goes the usual way.
    """

    def __init__(self, *, graphql_websocket: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graphql_websocket = graphql_websocket

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        # Not a coroutine itself: it hands over the one to await, and keeps no frame of its
        # own for the WebSocket's whole life.
        if (
            scope["type"] == "websocket"
            and scope["path"].removeprefix(scope.get("root_path", "")) == GRAPHQL_PATH
        ):
            scope["app"] = self
            return self.graphql_websocket(scope, receive, send)  # type: ignore[return-value]
        return super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, dev_api_key: str | None = None) -> Gateway:
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
    # WebSocket operations set up a few at a time, so that a reconnect storm's peak is bounded.
    starts = StartGate(settings.ws_starts_at_once, settings.ws_start_patience_seconds)
    metrics = GatewayMetrics(starts)
    websockets = OpenWebSockets()
    routes = [
        Route("/", board),
        Route("/healthz", healthz),
        Route("/readyz", Readiness().endpoint),
        Route("/metrics", metrics_endpoint),
        Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
        rest.mount(),
        # The pages' scripts and styles (GraphiQL's are large: compress them).
        Mount("/static", GZipMiddleware(StaticFiles(directory=STATIC)), name="static"),
    ]
    middleware = [
        # Outermost, so that every answer, a CORS preflight's too, has an id and a time.
        Middleware(RequestObservability, metrics=metrics),
        cors_middleware(settings),
    ]
    app = Gateway(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        graphql_websocket=RequestObservability(
            TrackWebSockets(graphql, registry=websockets), metrics=metrics
        ),
    )
    app.state.metrics = metrics
    app.state.websockets = websockets
    app.state.dev_api_key = dev_api_key
    # Authenticated WebSockets by API key: capped per key, closed when their key is revoked.
    app.state.connections = Connections(settings.ws_max_connections_per_key)
    app.state.starts = starts
    return app

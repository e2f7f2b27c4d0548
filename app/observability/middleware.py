"""Per request: bind a request id (echoed in `X-Request-ID`) and time the answer by operation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount

from app.observability.context import REQUEST_ID_HEADER, accept_request_id, bound

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from app.observability.metrics import GatewayMetrics

# Set by the GraphQL view for a valid operation, e.g. "mutation createAction"; read here.
OPERATION_SCOPE_KEY: Final = "actions_gateway.operation"
UNMATCHED: Final = "unmatched"


def operation_label(scope: Scope, root_path: str) -> str:
    """A bounded label: the GraphQL operation, else the method and the route's template."""
    operation = scope.get(OPERATION_SCOPE_KEY)
    if isinstance(operation, str):
        return operation
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    # Inside a Mount, root_path has grown by the mount's path; a route's path is relative to it.
    mounted_at = str(scope.get("root_path", ""))[len(root_path) :]
    if isinstance(route, Mount):  # the mount itself: static files, or no route inside matched
        return f"{scope['method']} {mounted_at}"
    return f"{scope['method']} {mounted_at}{getattr(route, 'path', '')}"


class RequestObservability:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        root_path = str(scope.get("root_path", ""))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", status)
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if scope["type"] == "http":
                    self.metrics.observe_request(
                        operation_label(scope, root_path), status, time.perf_counter() - started
                    )

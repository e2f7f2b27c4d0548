"""The GraphQL endpoint: Strawberry's ASGI view, with API-key authentication."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult

from app.errors import ErrorCode
from app.graphql import http_cache, persisted_queries
from app.graphql.context import Context
from app.security.connections import ClosableWebSocketAdapter, Connections
from app.security.http import (
    Refusal,
    admit_graphql,
    graphql_error_response,
    replaying,
    unauthenticated,
)
from app.security.ws_messages import CheckedGraphQLWSHandler, CheckedTransportWSHandler
from app.services.api_keys import Principal, authenticate
from app.web.pages import explorer

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter
    from starlette.types import Receive, Scope, Send
    from starlette.websockets import WebSocket
    from strawberry.http import GraphQLRequestData
    from strawberry.http.base import BaseRequestProtocol

    from app.runtime import Runtime

# Where the HTTP request's authenticated key is kept between __call__ and get_context.
PRINCIPAL_SCOPE_KEY = "actions_gateway.principal"


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, *args: Any, allowed_origin_regex: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Origins allowed by pattern besides `allowed_origins` (dev: local front ends).
        self.allowed_origin_pattern = (
            None if allowed_origin_regex is None else re.compile(allowed_origin_regex)
        )

    websocket_adapter_class = ClosableWebSocketAdapter
    graphql_transport_ws_handler_class = CheckedTransportWSHandler
    graphql_ws_handler_class = CheckedGraphQLWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:
                self._connections(scope).release(scope)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if not self.should_render_graphql_ide(self.request_adapter_class(request)):
            admitted = await admit_graphql(request, self._runtime(request))
            if not isinstance(admitted, tuple):
                await admitted(scope, receive, send)
                return
            principal, body = admitted
            scope[PRINCIPAL_SCOPE_KEY] = principal
            request = Request(scope, replaying(body, receive))
        try:
            response = http_cache.revalidated(request, await self.run(request))
        except HTTPException as exc:
            # Strawberry answers in plain text; clients of a GraphQL API expect its error shape.
            refusal = Refusal(exc.status_code, ErrorCode.BAD_REQUEST, exc.reason)
            response = graphql_error_response(refusal)
        await response(scope, receive, send)

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        pattern = self.allowed_origin_pattern
        return super().is_websocket_origin_allowed(request, origin) or bool(
            pattern is not None and pattern.fullmatch(origin)
        )

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET with only a persisted query's hash is an operation, not a visit to the explorer.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Run an operation, standing in a persisted query's text for its hash."""
        try:
            lookup = await persisted_queries.look_up(
                context.runtime, request_data.query, request_data.extensions
            )
        except persisted_queries.PersistedQueryError as exc:
            return ExecutionResult(data=None, errors=[exc.as_graphql_error()])
        if lookup is not None:
            request_data.query = lookup.query
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        # Kept only once it has run: a document that does not parse or validate has no data.
        if lookup is not None and result.data is not None:
            await lookup.keep()
        return result

    @staticmethod
    def _runtime(request: Request | WebSocket) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime

    @staticmethod
    def _connections(scope: Scope) -> Connections:
        connections: Connections = scope["app"].state.connections
        return connections

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(runtime=self._runtime(request), request=request, response=response)
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(principal, Principal):
            context.authenticated_company_id = principal.company_id
            context.api_key_id = principal.key_id
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization", params.get("authorization"))
        authorization = header if isinstance(header, str) else None
        principal = await authenticate(context.runtime.key_reads.submit, authorization)
        if principal is None:
            refusal = unauthenticated(authorization)
            raise ConnectionRejectionError(
                {"message": refusal.message, "extensions": {"code": refusal.code.value}}
            )
        connections = self._connections(context.request.scope)
        if not connections.admit(principal.key_id, context.request):  # type: ignore[arg-type]
            raise ConnectionRejectionError(
                {
                    "message": f"this API key already has {connections.max_per_key} open "
                    "WebSockets on this server",
                    "extensions": {"code": ErrorCode.TOO_MANY_CONNECTIONS.value},
                }
            )
        context.authenticated_company_id = principal.company_id
        context.api_key_id = principal.key_id
        # Read once, for the key: not kept for the connection's life.
        context.connection_params = None
        return None

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own page, with GraphiQL served by the gateway: Strawberry's loads it from a CDN.
        return explorer(request)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: Strawberry sends bytes over WebSocket as binary frames, which
        # graphql-ws clients (browsers' included) cannot read.
        try:
            return orjson.dumps(data).decode()
        except TypeError as exc:
            if "surrogates" not in str(exc):
                raise
            # JSON may spell a lone surrogate ("\\ud800"), which validation refuses but an error
            # message may quote; orjson cannot write one, the standard library escapes it.
            return json.dumps(data, ensure_ascii=True, separators=(",", ":"))

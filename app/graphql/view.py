"""The GraphQL endpoint: Strawberry's ASGI view, with API-key authentication."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from app.graphql import http_cache, persisted_queries
from app.graphql.context import Context
from app.services.api_keys import authenticate
from app.web.pages import explorer

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter
    from starlette.types import Receive, Scope, Send
    from starlette.websockets import WebSocket
    from strawberry.http import GraphQLRequestData
    from strawberry.http.base import BaseRequestProtocol

    from app.runtime import Runtime

# Where the HTTP request's authenticated company is kept between __call__ and get_context.
COMPANY_SCOPE_KEY = "actions_gateway.company_id"
UNAUTHENTICATED = "a valid API key is required: send Authorization: Bearer <api key>"


def unauthenticated_response() -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": UNAUTHENTICATED, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="actions-gateway"'},
    )


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, *args: Any, allowed_origin_regex: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Origins allowed by pattern besides `allowed_origins` (dev: local front ends).
        self.allowed_origin_pattern = (
            None if allowed_origin_regex is None else re.compile(allowed_origin_regex)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            wants_explorer = self.should_render_graphql_ide(self.request_adapter_class(request))
            if not wants_explorer:
                company_id = await authenticate(
                    self._runtime(request).sessions, request.headers.get("authorization")
                )
                if company_id is None:
                    await unauthenticated_response()(scope, receive, send)
                    return
                scope[COMPANY_SCOPE_KEY] = company_id
        await super().__call__(scope, receive, send)

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

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        response = await super().run(request, context, root_value)
        if isinstance(request, Request) and isinstance(response, Response):
            return http_cache.revalidated(request, response)
        return response

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

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(runtime=self._runtime(request), request=request, response=response)
        if isinstance(request, Request):
            context.authenticated_company_id = request.scope.get(COMPANY_SCOPE_KEY)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization", params.get("authorization"))
        company_id = await authenticate(
            context.runtime.sessions, header if isinstance(header, str) else None
        )
        if company_id is None:
            raise ConnectionRejectionError({"message": UNAUTHENTICATED})
        context.authenticated_company_id = company_id
        return None

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own page, with GraphiQL served by the gateway: Strawberry's loads it from a CDN.
        return explorer(request)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: Strawberry sends bytes over WebSocket as binary frames, which
        # graphql-ws clients (browsers' included) cannot read.
        return orjson.dumps(data).decode()

"""The GraphQL endpoint: Strawberry's ASGI view, with API-key authentication."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from app.graphql.context import Context
from app.services.api_keys import authenticate

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send
    from starlette.websockets import WebSocket

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

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

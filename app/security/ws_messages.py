"""Strawberry's WebSocket handlers, with messages checked for shape and routes for live events.

The handlers index into each message as if it were well formed: a JSON array, or a `subscribe`
whose payload is a number, ended the connection with an exception rather than the protocol's
answer. Here such a message closes the socket with 4400 (Bad Request) and a reason.

Each operation they start gets a `Route` (app/graphql/fanout.py): its id, its socket's
synchronous send, and the handler's register of running operations, through which a live
change can reach the client without waking the operation.
"""

from __future__ import annotations

from typing import Any, Final

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.graphql.context import Context
from app.graphql.fanout import routed
from app.ws_protocol import SEND_FRAME_NOW

BAD_REQUEST: Final = 4400
_STARTS: Final = ("subscribe", "start")  # graphql-transport-ws, graphql-ws
_STOPS: Final = ("complete", "stop")


def shape_problem(message: object) -> str | None:
    """What is wrong with a message's shape, or None (its content is the handler's to judge)."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string type"
    if kind in _STARTS + _STOPS and not isinstance(message.get("id"), str):
        return f"a {kind} message needs a string id"
    if kind not in _STARTS:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return f"a {kind} message needs an object payload"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string"
    for key, kind_of in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kind_of):
            return f"payload.{key} must be {'an object' if kind_of is dict else 'a string'}"
    return None


def _send_now(websocket: Any) -> Any:
    """The socket's synchronous send (app/ws_protocol.py), if its server protocol has one."""
    return (websocket.ws.scope.get("extensions") or {}).get(SEND_FRAME_NOW)


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        problem = shape_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        with routed(_send_now(self.websocket), self.operations, message["id"], "next"):
            await super().handle_subscribe(message)


class CheckedGraphQLWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        problem = shape_problem(message)
        if problem is not None:
            await self.websocket.close(code=BAD_REQUEST, reason=problem)
            return
        await super().handle_message(message)

    async def handle_start(self, message: Any) -> None:
        with routed(_send_now(self.websocket), self.tasks, message["id"], "data"):
            await super().handle_start(message)

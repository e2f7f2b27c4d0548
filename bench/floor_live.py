"""The floor's live updates: a hand-written WebSocket fan-out, what a user would write instead.

`/graphql` speaks just enough graphql-transport-ws for the benchmark's subscribers: the key in
`connection_init`, one `subscribe` (whose selection is taken to be `actions { id status
sequence }`), then a `next` for each change of the key's company. The changes come from the
product's Redis channels, one pattern subscription per process, and each is sent with an
awaited ASGI send per socket, as Starlette's WebSocket offers. `/metrics` counts the sockets
the way the product's gauges do, so that the benchmark waits for both alike.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import orjson
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.events import CHANNEL_PREFIX
from bench.handwritten import Clients

PROTOCOL = "graphql-transport-ws"


class Hub:
    """Each company's subscribed sockets, with their operation ids."""

    def __init__(self) -> None:
        self.sockets = 0
        self.subscribed: dict[int, dict[WebSocket, str]] = {}

    def count(self) -> int:
        return sum(len(sockets) for sockets in self.subscribed.values())

    async def relay(self, redis: Redis) -> None:
        """Every change published on the product's channels, to its company's sockets."""
        pubsub = redis.pubsub()
        await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
        async for message in pubsub.listen():
            if message["type"] != "pmessage":
                continue
            change = orjson.loads(message["data"])
            selected = {"id": str(change["id"]), "status": change["status"]}
            selected["sequence"] = change["sequence"]
            payload = orjson.dumps({"data": {"actions": selected}}).decode()
            for socket, op_id in list(self.subscribed.get(change["company_id"], {}).items()):
                frame = f'{{"id":{orjson.dumps(op_id).decode()},"type":"next","payload":{payload}}}'
                try:
                    await socket.send_text(frame)
                except (WebSocketDisconnect, RuntimeError):
                    continue


def hub_of(app: Any) -> Hub:
    hub: Hub = app.state.hub
    return hub


async def live(websocket: WebSocket) -> None:
    hub = hub_of(websocket.app)
    clients: Clients = websocket.app.state.clients
    await websocket.accept(subprotocol=PROTOCOL)
    hub.sockets += 1
    company_id: int | None = None
    try:
        while True:
            message = orjson.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "connection_init":
                payload = message.get("payload") or {}
                principal = await clients.principal(payload.get("Authorization"))
                if principal is None:
                    await websocket.close(4403, "Forbidden")
                    return
                company_id = principal.company_id
                await websocket.send_text('{"type":"connection_ack"}')
            elif kind == "subscribe" and company_id is not None:
                hub.subscribed.setdefault(company_id, {})[websocket] = str(message["id"])
            elif kind == "ping":
                await websocket.send_text('{"type":"pong"}')
    except WebSocketDisconnect:
        pass
    finally:
        hub.sockets -= 1
        if company_id is not None:
            hub.subscribed.get(company_id, {}).pop(websocket, None)


async def metrics(request: Request) -> Response:
    hub = hub_of(request.app)
    return PlainTextResponse(
        f"actions_gateway_subscriptions_open {hub.count()}\n"
        f"actions_gateway_websockets_open {hub.sockets}\n"
    )


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/graphql", live), Route("/metrics", metrics)]


def start_hub(app: Starlette, clients: Clients) -> Coroutine[Any, Any, None]:
    """The hub, kept on the app; its relay, for the app's lifespan to run."""
    app.state.hub = hub = Hub()
    return hub.relay(clients.redis)

"""GraphQL over WebSocket (graphql-transport-ws), as a client: connect, subscribe, read."""

from __future__ import annotations

from typing import Any, Final

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

PROTOCOL: Final = Subprotocol("graphql-transport-ws")
ACTIONS_SUBSCRIPTION: Final = "subscription { actions { id status sequence } }"


async def subscribe(port: int, key: str, query: str = ACTIONS_SUBSCRIPTION) -> ClientConnection:
    """An authenticated socket with one subscription started (id "1")."""
    socket = await connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=[PROTOCOL],
        # Idle subscribers stay idle: the server's keep-alive is enough.
        ping_interval=None,
        open_timeout=120,
        max_size=None,
    )
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
    await socket.send(orjson.dumps(init).decode())
    ack = orjson.loads(await socket.recv())
    if ack.get("type") != "connection_ack":
        await socket.close()
        raise ConnectionError(f"not acknowledged: {ack}")
    subscribe = {"type": "subscribe", "id": "1", "payload": {"query": query}}
    await socket.send(orjson.dumps(subscribe).decode())
    return socket


async def next_payload(socket: ClientConnection) -> dict[str, Any] | None:
    """The next result's data (answering keep-alive pings on the way); None when it completes."""
    while True:
        message = orjson.loads(await socket.recv())
        kind = message.get("type")
        if kind == "next":
            payload: dict[str, Any] = message["payload"]
            if payload.get("errors"):
                raise RuntimeError(f"subscription error: {payload['errors']}")
            data: dict[str, Any] = payload["data"]
            return data
        if kind == "ping":
            await socket.send('{"type":"pong"}')
        elif kind in ("complete", "error"):
            if kind == "error":
                raise RuntimeError(f"subscription refused: {message}")
            return None

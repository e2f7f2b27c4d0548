"""The gateway's WebSocket protocol keeps uvicorn's attributes in slots, not a dict per socket
(app/ws_protocol.py): a new attribute in a later uvicorn shows up here, to be added."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from app.ws_protocol import GatewayWebSocketProtocol


async def _app(scope: object, receive: object, send: object) -> None:
    return None


async def test_every_attribute_of_a_socket_is_a_slot() -> None:
    config = uvicorn.Config(_app, ws="websockets-sansio")
    protocol = GatewayWebSocketProtocol(
        config=config,
        server_state=ServerState(),
        app_state={},
        _loop=asyncio.get_running_loop(),
    )
    assert vars(protocol) == {}
    assert protocol.writable.is_set() and protocol.queue.empty()

"""The HTTP server: uvicorn, with a graceful shutdown that closes WebSockets with 1001.

uvicorn, left alone, closes them with 1012 (service restart) as it stops; a stopping gateway
does not know that it will come back, so it says that it is going away, and clients reconnect
(to another gateway behind the same address). `GatewayServer` closes them, lets their
handlers finish, then hands over to uvicorn's own shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import uvicorn

from app.ws_protocol import GatewayWebSocketProtocol

if TYPE_CHECKING:
    import socket

    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from app.settings import Settings

log = logging.getLogger(__name__)

GOING_AWAY: Final = 1001
SHUTDOWN_REASON: Final = "the server is shutting down"
# How long handlers get to notice the close and finish before uvicorn takes over.
DRAIN_SECONDS: Final = 5.0


class _Connection:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.accepted = False
        self.finished = False  # closed by the application or refused
        self.closed_by_server = False

    async def send(self, message: Message) -> None:
        if self.closed_by_server:
            # The socket is closed: whatever the application still says goes nowhere.
            return
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
        elif kind in ("websocket.close", "websocket.http.response.start"):
            self.finished = True
        await self._send(message)

    async def close(self) -> None:
        if not self.accepted or self.finished or self.closed_by_server:
            return
        self.closed_by_server = True
        await self._send({"type": "websocket.close", "code": GOING_AWAY, "reason": SHUTDOWN_REASON})


class OpenWebSockets:
    """The WebSockets this process holds open; `TrackWebSockets` keeps the set."""

    def __init__(self) -> None:
        self._open: set[_Connection] = set()
        self._drained = asyncio.Event()
        self.shutting_down = False

    @property
    def open_count(self) -> int:
        return len(self._open)

    def register(self, connection: _Connection) -> None:
        self._open.add(connection)
        self._drained.clear()

    def unregister(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if not self._open:
            # A set keeps the table it grew to: after 10,000 sockets, half a MiB.
            self._open = set()
            self._drained.set()

    async def close_all(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Close every open WebSocket with 1001, refuse new ones, wait for handlers to end."""
        self.shutting_down = True
        connections = list(self._open)
        if not connections:
            return
        log.info("closing %s WebSocket(s): going away", len(connections))
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                await self._drained.wait()


class TrackWebSockets:
    """ASGI middleware: registers each WebSocket with `OpenWebSockets` while it is open."""

    def __init__(self, app: ASGIApp, registry: OpenWebSockets) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.registry.shutting_down:
            # Refused before the handshake completes: the client sees 403 and tries elsewhere.
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        connection = _Connection(send)
        self.registry.register(connection)
        try:
            await self.app(scope, receive, connection.send)
        finally:
            self.registry.unregister(connection)


class GatewayServer(uvicorn.Server):
    """uvicorn's server, closing the gateway's WebSockets first when it shuts down."""

    def __init__(self, config: uvicorn.Config, websockets: OpenWebSockets) -> None:
        super().__init__(config)
        self.websockets = websockets

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.websockets.close_all()
        await super().shutdown(sockets)


def uvicorn_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    # The sans-I/O protocol is ours, extended (app/ws_protocol.py); the others are uvicorn's.
    ws: type[asyncio.Protocol] | str = settings.ws_protocol
    if ws == "websockets-sansio":
        ws = GatewayWebSocketProtocol
    # log_config=None: uvicorn's loggers go through `configure_logging`'s handler, JSON or text.
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level="info",
        # Said, not guessed: uvicorn guesses from whether the app's __call__ is a coroutine
        # function, and the gateway's returns its coroutine instead (`Gateway`).
        interface="asgi3",
        ws=ws,
        ws_per_message_deflate=settings.ws_per_message_deflate,
    )

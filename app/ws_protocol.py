"""uvicorn's sans-I/O WebSocket protocol, with a synchronous send for live subscription events.

One change to a thousand subscribers is a thousand messages. Through ASGI, each is an awaited
`send` down the middleware chain, from the subscriber's own task. This protocol also offers,
as an ASGI extension in the connection's scope, `send_text_now(text) -> bool`: it writes a
text message at once, from whatever code holds it (the event bus's fan-out), or says False
when it cannot do so without waiting. That happens when the socket is closing, or when its
client reads slowly and the transport has paused writing. The caller then sends through ASGI,
which waits as it should (app/graphql/fanout.py).

It also lets go of the handshake's request and response, which the protocol kept for the
connection's life: about 4 KiB per socket that nothing reads after the handshake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent
    from websockets.http11 import Request

# The scope's `extensions` key of the synchronous send.
SEND_TEXT_NOW: Final = "actions_gateway.send_text_now"


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_TEXT_NOW] = self.send_text_now
        self.request = None  # type: ignore[assignment]

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete:
            self.response = None  # type: ignore[assignment]

    def send_text_now(self, text: str) -> bool:
        """Write a text message now; False (nothing sent) if that would mean waiting."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # the client has begun closing
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

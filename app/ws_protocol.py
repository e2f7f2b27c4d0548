"""uvicorn's sans-I/O WebSocket protocol, with a synchronous send for live subscription events.

One change to a thousand subscribers is a thousand messages. Through ASGI, each is an awaited
`send` down the middleware chain, from the subscriber's own task. This protocol also offers,
as an ASGI extension in the connection's scope, `send_frame_now(frame) -> bool`: it writes a
text message, already framed by `text_frame`, at once, from whatever code holds it (the event
bus's fan-out). A server's frames are not masked, so subscribers who get the same message
share one frame. It says False when it cannot send without waiting, or without the
connection's own framing: the socket is closing, its client reads slowly and the transport
has paused writing, or an extension (compression) was negotiated. The caller then sends
through ASGI, which waits as it should (app/graphql/fanout.py).

It also keeps less for each idle socket: it lets go of the handshake's request and
response, and empties the request's headers (copied into the scope; the parser holds the
request to the end), about 6 KiB that nothing reads after the handshake, and the scope's
headers once the application has accepted (about 1.2 KiB); and its inbox and
its writable flag are a list and a flag (`Inbox`, `Flag`) instead of an asyncio.Queue and an
asyncio.Event, whose four deques are another 3 KiB.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from app.waiting import Flag, Inbox

if TYPE_CHECKING:
    from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
    from websockets.http11 import Request


# The scope's `extensions` key of the synchronous send.
SEND_FRAME_NOW: Final = "actions_gateway.send_frame_now"


def text_frame(text: str) -> bytes:
    """A whole text message as a server writes it (unmasked, uncompressed)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    # uvicorn's attributes, as slots: in each socket's own dict they were about 1.5 KiB (more
    # than a shared-key dict holds), as slots 8 bytes each. Any other still goes to a dict.
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Inbox[ASGIReceiveEvent] = Inbox()  # type: ignore[assignment]
        self.writable: Flag = Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_FRAME_NOW] = self.send_frame_now
        self.request = None  # type: ignore[assignment]
        # Answered (self.response) and copied into the scope: the parser keeps the request.
        event.headers.clear()

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        super().on_task_complete(task)
        # The scope's send_frame_now is bound to this protocol, which holds the scope: drop
        # it, so that the connection is freed as it ends, not later by the cyclic collector.
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(SEND_FRAME_NOW, None)

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            self.response = None  # type: ignore[assignment]
            # Accepted: the gateway reads a WebSocket's headers only in its handshake (origin,
            # request id), and the list is about 1.2 KiB a socket. Emptied in place, so that
            # a view of it the application made reads empty rather than keeping it.
            self.scope["headers"].clear()  # type: ignore[attr-defined]

    def send_frame_now(self, frame: bytes) -> bool:
        """Write a `text_frame` now; False (nothing sent) if that would mean waiting."""
        conn = self.conn
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
            or conn.state is not State.OPEN  # the client has begun closing
            or conn.extensions
            or conn.expect_continuation_frame
        ):
            return False
        self.transport.write(frame)
        return True

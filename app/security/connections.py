"""The WebSockets open on this gateway, by API key: capped per key, closed when a key is revoked."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from starlette.websockets import WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected

if TYPE_CHECKING:
    from starlette.types import Scope
    from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

# graphql-transport-ws's "Forbidden": the key that opened the socket is no longer valid.
REVOKED_CLOSE_CODE: Final = 4403
REVOKED_REASON: Final = "API key revoked"
# Where a socket's key is noted in its ASGI scope, so that it can be released when it ends.
_SCOPE_KEY: Final = "actions_gateway.ws_key_id"


class Connections:
    """This process's open, authenticated WebSockets, grouped by the key that opened them."""

    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self._by_key: dict[int, dict[int, WebSocket]] = {}

    def admit(self, key_id: int, websocket: WebSocket) -> bool:
        """Register an authenticated socket; False (and nothing kept) if its key has too many."""
        sockets = self._by_key.setdefault(key_id, {})
        if len(sockets) >= self.max_per_key:
            return False
        sockets[id(websocket.scope)] = websocket
        websocket.scope[_SCOPE_KEY] = key_id
        return True

    def release(self, scope: Scope) -> None:
        """Forget a socket that has ended (called for every socket, admitted or not)."""
        key_id = scope.get(_SCOPE_KEY)
        sockets = self._by_key.get(key_id) if isinstance(key_id, int) else None
        if sockets is None:
            return
        sockets.pop(id(scope), None)
        if not sockets:
            del self._by_key[key_id]  # type: ignore[arg-type]

    def key_ids(self) -> set[int]:
        return set(self._by_key)

    def count(self, key_id: int) -> int:
        return len(self._by_key.get(key_id, ()))

    async def close_key(self, key_id: int) -> int:
        """Close every socket of a revoked key; how many were closed."""
        sockets = self._by_key.pop(key_id, {})
        for websocket in sockets.values():
            if websocket.application_state == WebSocketState.CONNECTED:
                # The client may be gone already; the socket ends either way.
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(code=REVOKED_CLOSE_CODE, reason=REVOKED_REASON)
        if sockets:
            log.info("closed %d WebSocket(s) of revoked API key %s", len(sockets), key_id)
        return len(sockets)


class ClosableWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, but a closed socket drops late messages.

    An operation may produce a result after the server closed the socket (a revoked key) or
    the client went away; sending it would raise in the operation's task, and Strawberry logs
    that as an error with its traceback. The connection's own loop sees the close anyway.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnected):
            await super().send_json(message)

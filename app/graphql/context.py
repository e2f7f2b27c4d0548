"""What every resolver gets: the process's clients and the caller's company."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as _Info

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from app.events import EventBus
    from app.runtime import Runtime


class Unauthenticated(Exception):
    """No valid API key was given."""


@dataclass
class Context:
    runtime: Runtime
    request: Request | WebSocket
    response: Response | WebSocket | None
    authenticated_company_id: int | None = None
    # The key the caller authenticated with: rate limits and revocation are per key.
    api_key_id: int | None = None
    # Set by Strawberry from `connection_init` on WebSockets.
    connection_params: dict[str, Any] | None = field(default=None)

    @property
    def company_id(self) -> int:
        if self.authenticated_company_id is None:
            raise Unauthenticated("a valid API key is required")
        return self.authenticated_company_id

    @property
    def bus(self) -> EventBus:
        if self.runtime.bus is None:
            raise RuntimeError("this process does not serve subscriptions")
        return self.runtime.bus


Info = _Info[Context, None]

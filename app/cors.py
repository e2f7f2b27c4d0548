"""Which browser origins may call the gateway: CORS for HTTP, the same list for WebSockets."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from app.settings import Settings

ALLOWED_METHODS = ("GET", "POST", "DELETE")
# Authorization carries the API key; Content-Type: application/json makes every POST preflighted.
# X-Request-ID lets a page trace its calls (`app/observability/context.py`) and read the id back.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("X-Request-ID",)
# How long a browser may reuse a preflight's answer.
PREFLIGHT_MAX_AGE_SECONDS = 600


def cors_middleware(settings: Settings) -> Middleware:
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=settings.cors_allow_credentials,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )

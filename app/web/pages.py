"""The explorer and the board: HTML from `templates/`, scripts and styles from `app/static/`.

Every asset comes from the gateway itself, so both pages work with no internet access, and
the Content-Security-Policy allows nothing else. A page's settings (where GraphQL is, the
development key under `dev`) travel in a JSON data block, which the policy lets through
because it is never executed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
from starlette.responses import HTMLResponse

if TYPE_CHECKING:
    from starlette.requests import Request

TEMPLATES: Final = Path(__file__).parent / "templates"
STATIC: Final = Path(__file__).parent.parent / "static"
GRAPHQL_PATH: Final = "/graphql"
CONFIG_MARKER: Final = "{{config}}"
# A Host header fit to be echoed into the policy: a name or address and an optional port.
_HOST: Final = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@functools.cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def content_security_policy(request: Request) -> str:
    """Only this origin. WebSockets are named explicitly: not every browser counts ws: as self."""
    host = request.headers.get("host", "")
    connect = "'self'"
    if _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # GraphiQL's stylesheet carries its fonts and icons as data: URLs.
            "font-src 'self' data:",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _config_block(config: dict[str, Any]) -> str:
    # Escaped so that no value can close the <script> element it sits in.
    text = orjson.dumps(config).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(request: Request, template: str, config: dict[str, Any]) -> HTMLResponse:
    html = _template(template).replace(CONFIG_MARKER, _config_block(config))
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(request),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # The page may carry the development key: never keep it in a shared cache.
            "Cache-Control": "no-store",
        },
    )


def _page_config(request: Request) -> dict[str, Any]:
    # Set only by `actions-gateway dev`: production never shows a key.
    dev_api_key: str | None = getattr(request.app.state, "dev_api_key", None)
    return {"graphqlPath": GRAPHQL_PATH, "devApiKey": dev_api_key}


def explorer(request: Request) -> HTMLResponse:
    return render_page(request, "explorer.html", _page_config(request))


async def board(request: Request) -> HTMLResponse:
    return render_page(request, "board.html", _page_config(request))

"""What a crash inside a REST route looks like to the client: a JSON error, logged."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from app.rest.common import JSONErrors, route


async def crash(request: Request) -> Response:
    raise RuntimeError("a bug")


async def test_an_unexpected_error_is_a_json_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(
        routes=[
            Mount("/api", routes=[route("/crash", get=crash)], middleware=[Middleware(JSONErrors)])
        ]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/crash")
    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {
                "field": None,
                "message": "the gateway failed to handle this request; the error is logged",
                "code": "INTERNAL",
            }
        ]
    }
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)

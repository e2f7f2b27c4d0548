"""A browser app on another origin: CORS over HTTP, the same origins for WebSockets."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import httpx
import pytest
import websockets
from pydantic import ValidationError

from app.settings import Settings
from tests.support import ALLOWED_ORIGIN, Caller, command

REFUSED_ORIGIN = "https://evil.example"
PING = "{ actionTypes { name } }"


async def preflight(base_url: str, origin: str, path: str = "/graphql") -> httpx.Response:
    """What a browser sends before a cross-origin JSON POST with an API key."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        return await client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )


async def post_from(caller: Caller, origin: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=caller.base_url) as client:
        return await client.post(
            "/graphql", json={"query": PING}, headers={**caller.headers, "Origin": origin}
        )


async def test_preflight_from_an_allowed_origin_allows_the_api_key(gateway: str) -> None:
    response = await preflight(gateway, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "POST" in response.headers["access-control-allow-methods"]
    # No credentials unless CORS_ALLOW_CREDENTIALS: the key travels in a header, not a cookie.
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_from_a_refused_origin_is_refused(gateway: str) -> None:
    response = await preflight(gateway, REFUSED_ORIGIN)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_rest_is_open_to_the_same_origins(gateway: str) -> None:
    response = await preflight(gateway, ALLOWED_ORIGIN, "/api/v1/actions")
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_a_request_from_an_allowed_origin_may_be_read_by_the_page(caller: Caller) -> None:
    response = await post_from(caller, ALLOWED_ORIGIN)
    assert response.status_code == 200 and "errors" not in response.json()
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Origin" in response.headers["vary"]


async def test_a_request_from_a_refused_origin_may_not_be_read_by_the_page(
    caller: Caller,
) -> None:
    response = await post_from(caller, REFUSED_ORIGIN)
    # The browser, not the server, withholds the answer: it sees no Allow-Origin for the page.
    assert "access-control-allow-origin" not in response.headers


async def test_websocket_from_an_allowed_origin_connects(caller: Caller) -> None:
    async with caller.websocket(origin=ALLOWED_ORIGIN) as ws:
        assert ws.protocol == "graphql-transport-ws"  # connection_ack received


async def test_websocket_from_a_refused_origin_is_refused(caller: Caller) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with caller.websocket(origin=REFUSED_ORIGIN):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000"])
async def test_dev_allows_local_front_ends_on_any_port(
    caller: Caller, dev_gateway: str, origin: str
) -> None:
    allowed = await preflight(dev_gateway, origin)
    assert allowed.headers["access-control-allow-origin"] == origin
    local = dataclasses.replace(caller, base_url=dev_gateway)
    async with local.websocket(origin=origin) as ws:
        assert ws.protocol == "graphql-transport-ws"
    # Outside dev, the same page is refused.
    assert (await preflight(caller.base_url, origin)).status_code == 400
    with pytest.raises(websockets.InvalidStatus):
        async with caller.websocket(origin=origin):
            pass


@pytest.mark.parametrize("origin", ["http://localhost.evil.example", "https://localhost:5173"])
async def test_dev_allows_only_local_origins(dev_gateway: str, origin: str) -> None:
    assert (await preflight(dev_gateway, origin)).status_code == 400


def test_cors_origins_is_a_comma_separated_list_of_normalised_origins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    assert Settings(_env_file=None).cors_origins == []  # none by default
    monkeypatch.setenv("CORS_ORIGINS", " https://App.Example.com:443/ , http://localhost:3000,")
    assert Settings(_env_file=None).cors_origins == [
        "https://app.example.com",
        "http://localhost:3000",
    ]


@pytest.mark.parametrize(
    "value", ["app.example.com", "https://app.example.com/path", "ftp://app.example.com"]
)
def test_a_value_that_is_not_an_origin_is_refused_with_its_name(value: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=value)


def test_wildcard_with_credentials_is_refused_at_start_with_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="cannot be combined with CORS_ALLOW_CREDENTIALS"):
        Settings(cors_origins="*", cors_allow_credentials=True)
    result = subprocess.run(
        command("serve"),
        env={**os.environ, "CORS_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CORS_ORIGINS='*' cannot be combined with CORS_ALLOW_CREDENTIALS" in result.stderr
    assert "Traceback" not in result.stderr

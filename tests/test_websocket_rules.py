"""graphql-transport-ws as its protocol says, plus caps per connection and per key."""

from __future__ import annotations

import asyncio
import contextlib
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.support import Caller, GraphQLSocket, close_code, ws_url

TRANSPORT_WS = "graphql-transport-ws"
SUBSCRIBE_ALL = "subscription { actions { id } }"


def connect(base_url: str, protocol: str = TRANSPORT_WS) -> Any:
    return websockets.connect(
        ws_url(base_url),
        subprotocols=[protocol],  # type: ignore[list-item]
        max_queue=None,
        ping_interval=None,
    )


async def test_subscribe_before_connection_init_closes_with_4401(gateway: str) -> None:
    async with connect(gateway) as ws:
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE_ALL}})
        )
        assert await close_code(ws) == 4401


async def test_no_connection_init_in_time_closes_with_4408(tight_gateway: str) -> None:
    async with connect(tight_gateway) as ws:
        assert await close_code(ws) == 4408


async def test_a_second_connection_init_closes_with_4429(caller: Caller) -> None:
    async with caller.websocket() as socket:
        await socket.send({"type": "connection_init", "payload": caller.ws_payload})
        assert await close_code(socket.ws) == 4429


async def test_a_reused_subscription_id_closes_with_4409(caller: Caller) -> None:
    async with caller.websocket() as socket:
        message = {"id": "same", "type": "subscribe", "payload": {"query": SUBSCRIBE_ALL}}
        await socket.send(message)
        await socket.send(message)
        assert await close_code(socket.ws) == 4409


async def test_a_bad_or_missing_key_in_connection_init_closes_with_4403(gateway: str) -> None:
    for payload in ({}, {"Authorization": "Bearer agw_wrong"}, {"Authorization": 42}):
        async with connect(gateway) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert await close_code(ws) == 4403


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, "graphql-ws"])
async def test_subscriptions_per_connection_are_capped(
    caller: Caller, tight_gateway: str, protocol: str
) -> None:
    tight = caller.at(tight_gateway)
    async with tight.websocket(protocol) as socket:
        for _ in range(3):  # WS_MAX_SUBSCRIPTIONS_PER_CONNECTION on the tight gateway
            await socket.subscribe(SUBSCRIBE_ALL)
        refused = await socket.subscribe(SUBSCRIBE_ALL)
        message = await socket.receive()
        assert message["id"] == refused and message["type"] == "error", message
        assert "Subscription limit reached" in json.dumps(message["payload"])
        # The cap is on subscriptions running at once: ending one makes room for another.
        await socket.stop("1")
        again = await socket.subscribe(SUBSCRIBE_ALL)
        assert await first_event(tight, socket, again)


async def first_event(caller: Caller, socket: GraphQLSocket, op: str) -> dict[str, Any]:
    """The first event a new `actions` subscription delivers. It starts listening a moment
    after it is started, so actions are made until one is seen (not a claim about time)."""
    async with asyncio.timeout(60):
        while True:
            await caller.create_action("post_dashboard_notification", {"message": "hi"})
            with contextlib.suppress(TimeoutError):
                while True:
                    message = await socket.receive(timeout=2)
                    if message.get("id") == op:
                        assert message["type"] in ("next", "data"), message
                        event: dict[str, Any] = message["payload"]["data"]["actions"]
                        return event


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, "graphql-ws"])
async def test_connections_per_key_are_capped(
    caller: Caller, tight_gateway: str, protocol: str
) -> None:
    tight = caller.at(tight_gateway)
    async with AsyncExitStack() as stack:
        for _ in range(3):  # WS_MAX_CONNECTIONS_PER_KEY on the tight gateway
            await stack.enter_async_context(tight.websocket(protocol))
        async with connect(tight_gateway, protocol) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": tight.ws_payload}))
            if protocol == TRANSPORT_WS:
                assert await close_code(ws) == 4403
            else:
                error = json.loads(await ws.recv())
                assert error["type"] == "connection_error", error
                assert error["payload"]["extensions"]["code"] == "TOO_MANY_CONNECTIONS"
    # Once those are closed, the key may connect again (the server notices each close soon).
    async with asyncio.timeout(30):
        while True:
            try:
                async with tight.websocket(protocol):
                    break
            except (AssertionError, websockets.ConnectionClosed):
                await asyncio.sleep(0.1)


HOSTILE_MESSAGES: list[str | bytes] = [
    "not json",
    b"\x00\xff binary",
    "[]",
    '"a string"',
    "42",
    "null",
    '{"type": "nonsense"}',
    '{"no": "type"}',
    '{"type": "subscribe"}',
    '{"type": "subscribe", "id": "1"}',
    '{"type": "subscribe", "id": "1", "payload": {}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 42}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{", "variables": []}}',
    '{"type": "subscribe", "id": {"x": 1}, "payload": {"query": "{ actionTypes { name } }"}}',
    '{"type": "subscribe", "id": "\\ud800", "payload": {"query": "{ actionTypes { name } }"}}',
    '{"type": "complete", "id": "never-started"}',
    '{"type": "connection_init", "payload": "not an object"}',
]


@pytest.mark.parametrize("message", HOSTILE_MESSAGES, ids=[repr(m)[:40] for m in HOSTILE_MESSAGES])
async def test_a_hostile_message_ends_in_a_protocol_answer_not_a_crash(
    caller: Caller, message: str | bytes, gateway_log: Path
) -> None:
    mark = gateway_log.stat().st_size  # noqa: ASYNC240  (a stat, on a local file)
    async with caller.websocket() as socket:
        await socket.ws.send(message)
        # Either the protocol's answer (an error, a result, or a close with its code), or
        # nothing at all for a message it may ignore: then the socket still works.
        await socket.send({"type": "ping"})
        try:
            async with asyncio.timeout(30):
                while True:
                    reply = json.loads(await socket.ws.recv())
                    if reply["type"] == "pong":
                        break
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in (4400, 4429), closed
    with gateway_log.open("rb") as log:
        log.seek(mark)
        assert b"Traceback" not in log.read()


@pytest.mark.parametrize(
    "message",
    ["[]", '{"type": "start"}', '{"type": "start", "id": "1", "payload": {"query": 42}}'],
)
async def test_a_malformed_graphql_ws_message_closes_with_4400(
    caller: Caller, message: str
) -> None:
    async with caller.websocket("graphql-ws") as socket:
        await socket.ws.send(message)
        assert await close_code(socket.ws) == 4400


async def test_the_handshake_answers_under_a_request_id(gateway: str) -> None:
    async with (
        websockets.connect(
            ws_url(gateway),
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            additional_headers={"X-Request-ID": "ws-handshake-1"},
        ) as given,
        connect(gateway) as made,
    ):
        assert given.response is not None and made.response is not None
        assert given.response.headers["X-Request-ID"] == "ws-handshake-1"
        assert len(made.response.headers["X-Request-ID"]) == 32


async def test_a_websocket_elsewhere_than_graphql_is_refused(gateway: str) -> None:
    for path in ("/graphql/", "/graphqlx", "/healthz", "/"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(gateway.replace("http", "ws", 1) + path):
                pass
        assert refused.value.response.status_code == 403, path

"""A gateway that is stopped closes its subscriptions with 1001 (going away), then exits."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support import (
    Caller,
    GraphQLSocket,
    command,
    free_port,
    start_process,
    wait_http,
    wait_until,
)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_sigterm_closes_open_subscriptions_with_going_away(
    caller: Caller, env: dict[str, str], tmp_path: Path, protocol: str
) -> None:
    port = free_port()
    log = tmp_path / "gateway.log"
    process = start_process(command("serve"), {**env, "PORT": str(port)}, log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base_url}/healthz")
        url = f"ws://127.0.0.1:{port}/graphql"
        async with websockets.connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            socket = GraphQLSocket(ws, protocol)
            await socket.init({"Authorization": f"Bearer {caller.api_key}"})
            await socket.subscribe("subscription { actions { id status } }")

            async def subscribed() -> bool:
                async with httpx.AsyncClient(base_url=base_url) as client:
                    metrics = (await client.get("/metrics")).text
                return "actions_gateway_subscriptions_open 1.0" in metrics

            await wait_until(subscribed, "the subscription being served")
            process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.receive(timeout=60)
        assert closed.value.rcvd is not None, "the server sent a close frame"
        assert closed.value.rcvd.code == 1001
        assert closed.value.rcvd.reason == "the server is shutting down"
        # uvicorn ends by re-raising the signal it caught, once it has shut down cleanly.
        assert process.wait(60) in (0, -signal.SIGTERM), log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "closing 1 WebSocket(s): going away" in log.read_text()

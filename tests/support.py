"""Helpers the tests share: GraphQL and REST clients over HTTP, and GraphQL over WebSocket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func
from sqlmodel import col, select

from app.models import Action
from app.rest.common import PREFIX
from app.runtime import Runtime
from tests.openapi_check import assert_documented

ROOT = Path(__file__).resolve().parent.parent
# The browser origin the test gateways allow (CORS_ORIGINS).
ALLOWED_ORIGIN = "https://app.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(*args: str) -> list[str]:
    """The `actions-gateway` command of the interpreter running the tests."""
    return [sys.executable, "-m", "app", *args]


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=out, cwd=ROOT)


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30
) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


async def stored_actions(runtime: Runtime, company_id: str) -> int:
    """How many actions the company has in the database: what a refused request must not change."""
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Action)
            .where(col(Action.company_id) == int(company_id))
        )
    return int(count or 0)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60
) -> None:
    """Poll until the condition holds; the deadline only stops a test that would hang."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        await asyncio.sleep(0.05)


async def gateway_metrics(base_url: str) -> dict[str, float]:
    """The gateway's own series (actions_gateway_…), by sample name without that prefix."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        text = (await client.get("/metrics")).text
    return {
        sample.name.removeprefix("actions_gateway_"): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("actions_gateway_")
    }


async def metrics_reach(base_url: str, what: str, **expected: float) -> dict[str, float]:
    """Poll /metrics until each named series has its value; the last samples read."""
    seen: dict[str, float] = {}

    async def reached() -> bool:
        seen.update(await gateway_metrics(base_url))
        return all(seen.get(name) == value for name, value in expected.items())

    await wait_until(reached, f"{what} ({expected}; last seen {seen})", timeout=30)
    return seen


async def close_code(ws: Any, timeout: float = 30) -> int:
    """Read until the server closes the socket; the code it closed with."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the socket ended without a close frame"
        return closed.rcvd.code


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/graphql"


@dataclass
class Caller:
    """A company's view of a running gateway."""

    base_url: str
    company_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def ws_payload(self) -> dict[str, str]:
        """The `connection_init` payload that authenticates a WebSocket."""
        return {"Authorization": f"Bearer {self.api_key}"}

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a document; fails the test on a transport error or any GraphQL error."""
        body = await self.graphql_raw(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def graphql_raw(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers=self.headers,
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def rest(
        self,
        method: str,
        path: str,
        *,
        documented: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A REST call (path under /api/v1) with this caller's key unless `headers` replace it.

        The response is checked against the OpenAPI description unless `documented` is False
        (for what the description leaves out: unknown routes, methods a route does not take).
        """
        sent = self.headers if headers is None else headers
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.request(method, PREFIX + path, headers=sent, **kwargs)
        if documented:
            assert_documented(response)
        return response

    async def create_job(self, title: str = "Engineer") -> str:
        data = await self.graphql(
            "mutation($t: String!) { createJob(input: {title: $t}) "
            "{ job { id } errors { message } } }",
            {"t": title},
        )
        job_id: str = data["createJob"]["job"]["id"]
        return job_id

    async def create_app(self, job_id: str, name: str = "Ada Lovelace") -> str:
        data = await self.graphql(
            "mutation($j: ID!, $n: String!) { createApp(input: {jobId: $j, candidateName: $n}) "
            "{ app { id } errors { message } } }",
            {"j": job_id, "n": name},
        )
        app_id: str = data["createApp"]["app"]["id"]
        return app_id

    async def create_action(self, type_name: str, data: Any) -> dict[str, Any]:
        """The createAction payload: {action, errors}."""
        result = await self.graphql(
            "mutation($type: String!, $data: JSON!) "
            "{ createAction(input: {type: $type, data: $data}) "
            "{ action { id status type typeName data attempts executedAt } "
            "errors { field message code } } }",
            {"type": type_name, "data": data},
        )
        payload: dict[str, Any] = result["createAction"]
        return payload

    async def wait_for_status(
        self, action_id: str, statuses: set[str], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = await self.graphql(
                "query($id: ID!) "
                "{ action(id: $id) { id status attempts error executedAt version } }",
                {"id": action_id},
            )
            action: dict[str, Any] = data["action"]
            if action["status"] in statuses:
                return action
            if time.monotonic() > deadline:
                raise TimeoutError(f"action {action_id} still {action['status']}")
            await asyncio.sleep(0.05)

    def at(self, base_url: str) -> Caller:
        """The same company and key, talking to another gateway."""
        return Caller(base_url, self.company_id, self.api_key)

    @asynccontextmanager
    async def websocket(
        self, protocol: str = "graphql-transport-ws", origin: str | None = None
    ) -> AsyncIterator[GraphQLSocket]:
        """A connection made as a browser page on `origin` would (none: not a browser)."""
        url = ws_url(self.base_url)
        async with websockets.connect(
            url,
            subprotocols=[protocol],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            # A test may read its messages late: never stop reading the socket (which would
            # leave the server's pings unanswered), and keep time-outs to the test's own.
            max_queue=None,
            ping_interval=None,
        ) as ws:
            socket_ = GraphQLSocket(ws, protocol)
            await socket_.init(self.ws_payload)
            yield socket_


class GraphQLSocket:
    """A GraphQL client over one WebSocket, for either subscription protocol."""

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 30) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            # The protocols speak JSON in text frames; browsers' clients reject binary ones.
            assert isinstance(frame, str), f"a binary frame: {frame!r}"
            message: dict[str, Any] = json.loads(frame)
            if message["type"] not in ("ka", "ping", "pong"):
                return message

    async def init(self, payload: dict[str, Any]) -> None:
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        op_id = str(self._next_id)
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )
        return op_id

    async def stop(self, op_id: str) -> None:
        """End an operation from the client's side."""
        kind = "complete" if self.protocol == "graphql-transport-ws" else "stop"
        await self.send({"id": op_id, "type": kind})

    async def results(self, op_id: str, timeout: float = 30) -> AsyncIterator[dict[str, Any]]:
        """Each `data` of the operation until it completes; fails on an error message."""
        data_kind = "next" if self.protocol == "graphql-transport-ws" else "data"
        while True:
            message = await self.receive(timeout)
            if message.get("id") != op_id:
                continue
            if message["type"] == "complete":
                return
            assert message["type"] == data_kind, message
            assert "errors" not in message["payload"], message
            yield message["payload"]["data"]

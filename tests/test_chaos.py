"""Hundreds of actions from many clients while a worker is killed and Redis is restarted,
against PostgreSQL: every action created is executed once, and every client's subscription
sees every final state. Runs in the PostgreSQL pass (DATABASE_URL set); its Redis is its own,
embedded, so that it can be restarted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from sqlmodel import col, func, select

from app.faults import Fault
from app.models import Action, ActionStatus
from tests.cluster import Cluster, eventually, kill, wait_for_file
from tests.support import Caller

# It waits for dead workers' leases and for Redis to come back: longer than the usual limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CLIENTS = 8
ACTIONS_PER_CLIENT = 50
TOTAL = CLIENTS * ACTIONS_PER_CLIENT
FINAL = {"EXECUTED", "FAILED", "CANCELED"}
STREAM = "subscription($after: BigInt) { actions(after: $after) { id status sequence } }"
CREATE = (
    "mutation($type: String!, $data: JSON!, $key: String) "
    "{ createAction(input: {type: $type, data: $data, idempotencyKey: $key}) "
    "{ action { id status } errors { message } } }"
)


@dataclass
class Client:
    """One company's client: it creates actions and watches its company's stream."""

    caller: Caller
    app_id: int
    created: list[str] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)
    sequences: list[int] = field(default_factory=list)
    reconnects: int = 0
    done_creating: bool = False
    socket: Any = None

    def request(self, n: int) -> tuple[str, dict[str, Any]]:
        kind = n % 3
        if kind == 0:
            return "note_app", {"app_id": self.app_id, "note_text": f"note {n}"}
        if kind == 1:
            return "tag_app", {"app_id": self.app_id, "tag_text": f"tag {n}"}
        return "post_dashboard_notification", {"message": f"message {n}", "app_id": self.app_id}

    async def create_all(self, http: httpx.AsyncClient) -> None:
        for n in range(ACTIONS_PER_CLIENT):
            type_name, data = self.request(n)
            key = str(uuid.uuid4())
            while True:
                # A client that loses its answer retries with the same key: never a duplicate.
                try:
                    response = await http.post(
                        "/graphql",
                        json={
                            "query": CREATE,
                            "variables": {"type": type_name, "data": data, "key": key},
                        },
                    )
                    payload = response.json()["data"]["createAction"]
                    break
                except (httpx.HTTPError, KeyError, TypeError, ValueError):
                    await asyncio.sleep(0.2)
            assert payload["errors"] == [], payload
            self.created.append(payload["action"]["id"])
            await asyncio.sleep(random.uniform(0, 0.08))
        self.done_creating = True

    def satisfied(self) -> bool:
        return self.done_creating and all(i in self.final for i in self.created)

    async def watch(self) -> None:
        """Follow the stream, resuming after the last sequence seen whenever it breaks."""
        url = self.caller.base_url.replace("http://", "ws://") + "/graphql"
        while not self.satisfied():
            after = self.sequences[-1] if self.sequences else None
            protocols: Any = ["graphql-transport-ws"]
            with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
                async with websockets.connect(url, subprotocols=protocols) as ws:
                    self.socket = ws
                    await self._follow(ws, after)
            if not self.satisfied():
                self.reconnects += 1
                await asyncio.sleep(0.2)

    async def hang_up(self) -> None:
        if self.socket is not None:
            await self.socket.close()

    async def _follow(self, ws: Any, after: int | None) -> None:
        auth = {"Authorization": f"Bearer {self.caller.api_key}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": STREAM, "variables": {"after": after}},
                }
            )
        )
        while not self.satisfied():
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] in ("connection_ack", "ping", "pong", "ka"):
                continue
            if message["type"] != "next" or "errors" in message["payload"]:
                return  # e.g. live updates unavailable while Redis is down: reconnect
            change = message["payload"]["data"]["actions"]
            self.sequences.append(change["sequence"])
            if change["status"] in FINAL:
                self.final[change["id"]] = change["status"]


async def _count(cluster: Cluster, *conditions: Any) -> int:
    async with cluster.runtime.sessions() as session:
        value = await session.scalar(select(func.count()).select_from(Action).where(*conditions))
    return int(value or 0)


async def test_hundreds_of_actions_survive_a_killed_worker_and_a_redis_restart(
    cluster: Cluster,
) -> None:
    if cluster.is_sqlite:
        pytest.skip("runs against PostgreSQL: set DATABASE_URL (the CI's second pass does)")
    started = time.monotonic()
    gateway = cluster.start_gateway()
    # The first worker is slow: the actions it takes stay in flight until it is killed.
    doomed = cluster.start_worker("worker-1", fault=Fault.PAUSE_BEFORE_EFFECT, WORKER_MAX_JOBS="5")
    cluster.start_worker("worker-2")
    clients = []
    for _ in range(CLIENTS):
        caller = await cluster.company(gateway)
        clients.append(Client(caller, await cluster.app(int(caller.company_id))))

    def created() -> int:
        return sum(len(c.created) for c in clients)

    async def reached(count: int) -> None:
        async def enough() -> bool | None:
            return True if created() >= count else None

        await eventually(enough, 180, f"{count} actions to be created")

    async def disrupt() -> None:
        await reached(TOTAL // 3)
        await wait_for_file(cluster.marker("worker-1"))
        assert kill(doomed) < 0
        cluster.start_worker("worker-3")
        await reached(TOTAL // 2)
        cluster.redis.stop()
        # Clients keep creating while Redis is down, and their subscriptions drop: they
        # resume after the last sequence they saw (refused until Redis is back).
        for client in clients:
            await client.hang_up()
        await reached(TOTAL // 2 + 40)
        cluster.redis.start()

    async def create(client: Client) -> None:
        headers = client.caller.headers
        async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as http:
            await client.create_all(http)

    watchers = [asyncio.create_task(c.watch()) for c in clients]
    await asyncio.gather(disrupt(), *(create(c) for c in clients))

    ids = [int(i) for c in clients for i in c.created]
    assert len(ids) == len(set(ids)) == TOTAL

    async def all_final() -> bool | None:
        finished = await _count(
            cluster,
            col(Action.id).in_(ids),
            col(Action.status).in_([ActionStatus.EXECUTED, ActionStatus.FAILED]),
        )
        return True if finished == TOTAL else None

    await eventually(all_final, 300, "every action to finish")
    await asyncio.wait_for(asyncio.gather(*watchers), 120)

    executed = await _count(cluster, col(Action.id).in_(ids), col(Action.status) == "EXECUTED")
    retried = await _count(cluster, col(Action.id).in_(ids), col(Action.attempts) > 1)
    effects = await cluster.effects(ids)
    seen = sum(sum(1 for i in c.created if c.final.get(i) == "EXECUTED") for c in clients)
    print(
        f"\nchaos: created={TOTAL} executed={executed} effects={effects} "
        f"finals seen by subscribers={seen} reconnects={sum(c.reconnects for c in clients)} "
        f"tried more than once={retried} "
        f"in {time.monotonic() - started:.0f}s"
    )
    assert executed == effects == TOTAL
    assert seen == TOTAL
    assert retried > 0, "the killed worker had actions in flight"
    for client in clients:
        assert client.sequences == sorted(set(client.sequences)), "no change twice, in order"

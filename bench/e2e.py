"""Section 3, end to end: from createAction sent to EXECUTED received over a subscription.

`python -m bench.e2e SPEC` (JSON) is the client, in a process of its own: it subscribes to
`actions` over WebSocket, then offers createAction at a fixed rate over HTTP (open loop: each
request goes out when it is due, whatever the earlier ones are doing), and times each action
from when it was due to when its EXECUTED change arrived.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import uvloop

from bench import wire
from bench.stats import percentile
from bench.ws import next_payload, subscribe

WARMUP_ACTIONS = 5
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class Spec:
    port: int
    key: str
    app_ids: list[int]
    count: int
    rate: float
    label: str
    time_limit: float = 60.0


class Watcher:
    """When each action's EXECUTED change arrived, as read from the subscription."""

    def __init__(self) -> None:
        self.executed: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def read(self, socket: Any) -> None:
        while (data := await next_payload(socket)) is not None:
            action = data["actions"]
            if action["status"] == "EXECUTED":
                self.executed.setdefault(action["id"], time.perf_counter())
                self.changed.set()

    async def wait_for(self, ids: set[str], deadline: float) -> None:
        while not ids <= self.executed.keys() and time.perf_counter() < deadline:
            self.changed.clear()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                    await self.changed.wait()
            except TimeoutError:
                return


class Refused(Exception):
    """createAction did not create (an error, a timeout): counted, not timed."""


def created_id(status: int, body: bytes) -> str:
    try:
        action_id: str = orjson.loads(body)["data"]["createAction"]["action"]["id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise Refused(f"{status} {body[:300]!r}") from None
    return action_id


async def measure(spec: Spec) -> dict[str, Any]:
    requests = [
        wire.graphql_create(
            spec.port, spec.key, spec.app_ids[i % len(spec.app_ids)], f"{spec.label} {i}"
        )
        for i in range(spec.count + WARMUP_ACTIONS)
    ]
    socket = await subscribe(spec.port, spec.key)
    watcher = Watcher()
    reader = asyncio.create_task(watcher.read(socket))
    idle: list[wire.Connection] = []
    # As many requests in flight as a client's connection pool allows; past that they wait
    # here, and the wait counts, since each action is timed from when it was due.
    pool = asyncio.Semaphore(MAX_CONNECTIONS)

    async def create(index: int) -> tuple[str, float]:
        async with pool:
            # The server closes a connection left idle past its keep-alive time (uvicorn: 5 s;
            # the pool's oldest sit idle while the rate is low): such a one is dropped, unused.
            while idle and not idle[-1].is_open:
                idle.pop()
            connection = idle.pop() if idle else await wire.Connection.open("127.0.0.1", spec.port)
            try:
                status, body = await connection.request(requests[index])
            except wire.HTTPError:
                connection.close()
                raise
            idle.append(connection)
        return created_id(status, body), time.perf_counter()

    # Warm-up, one at a time: the subscription is live and the worker is running.
    for index in range(WARMUP_ACTIONS):
        action_id, _ = await create(index)
        await watcher.wait_for({action_id}, time.perf_counter() + 30)
        if action_id not in watcher.executed:
            raise RuntimeError("the warm-up action did not arrive as EXECUTED within 30 s")

    due: dict[str, float] = {}
    answered: list[float] = []
    refused: list[str] = []

    async def offer(index: int, when: float) -> None:
        try:
            action_id, responded = await create(index)
        except (Refused, wire.HTTPError, OSError) as exc:
            refused.append(str(exc))
            return
        due[action_id] = when
        answered.append((responded - when) * 1000)

    started = time.perf_counter() + 0.05
    sends: list[asyncio.Task[None]] = []
    for n in range(spec.count):
        when = started + n / spec.rate
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        sends.append(asyncio.create_task(offer(WARMUP_ACTIONS + n, when)))
    await asyncio.gather(*sends)
    offered_for = time.perf_counter() - started
    await watcher.wait_for(set(due), time.perf_counter() + spec.time_limit)
    reader.cancel()
    await socket.close()
    for connection in idle:
        connection.close()
    latencies = [
        (watcher.executed[i] - when) * 1000 for i, when in due.items() if i in watcher.executed
    ]
    return {
        "offered_rate": spec.rate,
        "achieved_rate": spec.count / offered_for if offered_for > 0 else 0.0,
        "sent": spec.count,
        "created": len(due),
        "received": len(latencies),
        "refused_sample": refused[0] if refused else "",
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=0.0),
        "http_p50_ms": percentile(answered, 50),
        "http_p99_ms": percentile(answered, 99),
    }


def main() -> None:
    spec = Spec(**orjson.loads(sys.argv[1]))
    result = uvloop.run(measure(spec))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def spec_argument(spec: Spec) -> str:
    return orjson.dumps(asdict(spec)).decode()


if __name__ == "__main__":
    main()

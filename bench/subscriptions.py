"""Section 4: what idle subscribers cost the gateway, and delivering one event to many.

The same is measured of the floor's hand-written WebSocket relay (bench/floor_live.py), with
the same clients, first at each level. Both servers are started afresh for this section, so
that their memory is not the HTTP load's.
Memory is the gateway's resident set (VmRSS) read after the process has been left alone for
a moment: before the subscribers come, with them all subscribed, and after they have all
gone. An event is a real change (an action stored and numbered with the product's `stamp`,
then published as the product publishes it), timed from the publish until every client has
it, with the gateway's CPU time (utime + stime) over the same span.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from typing import Any

import orjson

from app.events import publish_action
from app.models import Action
from app.runtime import Runtime
from app.services.changes import stamp
from bench.deploy import Deployment
from bench.procs import ROOT, bench_command, cpu_seconds, http_get, rss_kib
from bench.sizes import Sizes
from bench.stats import median, ratio
from bench.tenants import Tenant, more_keys

WARMUP_SUBSCRIBERS = 10
# The longest a memory reading waits for the resident size to hold still.
SETTLE_LIMIT = 60.0


def gauge(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


class Clients:
    """Subscriber processes, each holding its share of the sockets."""

    def __init__(self) -> None:
        self._processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._events: dict[int, list[float]] = {}
        self._arrived = asyncio.Event()
        self.ready = 0
        self.failed = 0

    async def start(self, port: int, keys: list[str], total: int) -> None:
        shares = [
            total // len(keys) + (1 if n < total % len(keys) else 0) for n in range(len(keys))
        ]
        for key, share in zip(keys, shares, strict=True):
            if share == 0:
                continue
            process = await asyncio.create_subprocess_exec(
                *bench_command("subscribers", str(port), key, str(share)),
                cwd=ROOT,
                env=dict(os.environ),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._processes.append(process)
        for process in self._processes:
            assert process.stdout is not None
            answer = orjson.loads(await process.stdout.readline() or b"{}")
            if "ready" not in answer:
                raise RuntimeError("a subscriber process ended before it was ready")
            self.ready += int(answer["ready"])
            self.failed += int(answer["failed"])
            self._readers.append(asyncio.create_task(self._listen(process)))

    async def _listen(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            message = orjson.loads(line)
            if "event" in message:
                self._events.setdefault(int(message["event"]), []).append(float(message["last"]))
                self._arrived.set()

    async def all_have(self, sequence: int, timeout: float) -> float:
        """When the last client got this change (every process has said so)."""
        async with asyncio.timeout(timeout):
            while len(self._events.get(sequence, ())) < len(self._processes):
                self._arrived.clear()
                await self._arrived.wait()
        return max(self._events[sequence])

    async def close(self) -> None:
        for process in self._processes:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(b"close\n")
                await process.stdin.drain()
        for process in self._processes:
            try:
                async with asyncio.timeout(120):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()


class Server:
    """What the section reads of a server (the gateway, or the floor): /metrics, and /proc."""

    def __init__(self, deployment: Deployment, name: str) -> None:
        self.pid = deployment.services[name].pid
        self.metrics_url = deployment.url(name, "/metrics")
        self.port = deployment.ports[name]

    async def wait_for(self, subscriptions: int, websockets: int | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            metrics = await asyncio.to_thread(http_get, self.metrics_url)
            seen = gauge(metrics, "actions_gateway_subscriptions_open")
            sockets = gauge(metrics, "actions_gateway_websockets_open")
            if seen == subscriptions and (websockets is None or sockets == websockets):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the gateway serves {seen:.0f} subscriptions ({sockets:.0f} sockets), "
                    f"not {subscriptions}, after {timeout:.0f}s"
                )
            await asyncio.sleep(0.2)

    async def settled_rss(self, seconds: float) -> int:
        """VmRSS once it has held (within 1 %) for `seconds`, or after SETTLE_LIMIT.

        A server may still be handing memory back: after 10,000 subscribers leave, the
        gateway's collection and trim take seconds, and the resident size holds still while
        they run, then drops.
        """
        deadline = time.monotonic() + SETTLE_LIMIT
        value, since = rss_kib(self.pid), time.monotonic()
        while time.monotonic() - since < seconds and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            now = rss_kib(self.pid)
            if abs(now - value) > value / 100:
                value, since = now, time.monotonic()
        return rss_kib(self.pid)


async def _change(rt: Runtime, tenant: Tenant, number: int) -> Action:
    """A stored, numbered change of the tenant's actions, as the product makes one."""
    async with rt.sessions.begin() as session:
        action = Action(
            company_id=tenant.company_id,
            type="tag_app",
            data={"app_id": tenant.app_ids[0], "tag_text": f"fan-out {number}"},
        )
        session.add(action)
        await session.flush()
        await stamp(session, action)
    return action


async def deliver(
    gateway: Server, clients: Clients, rt: Runtime, tenant: Tenant, events: int, start: int = 0
) -> dict[str, Any]:
    walls: list[float] = []
    cpu = 0.0
    for number in range(start, start + events):
        action = await _change(rt, tenant, number)
        cpu_before, published = cpu_seconds(gateway.pid), time.monotonic()
        await publish_action(rt.redis, action)
        last = await clients.all_have(action.sequence, 60)
        cpu += cpu_seconds(gateway.pid) - cpu_before
        walls.append((last - published) * 1000)
        await asyncio.sleep(0.2)
    return {
        "subscribers": clients.ready,
        "events": events,
        "cpu_ms_per_event": 1000 * cpu / events,
        "wall_ms_p50": median(walls),
        "wall_ms_max": max(walls),
    }


async def warm_up(server: Server, rt: Runtime, tenant: Tenant, key: str) -> None:
    """A few subscribers come, get an event and go, so that nothing measured is a first time."""
    warm = Clients()
    await warm.start(server.port, [key], WARMUP_SUBSCRIBERS)
    await server.wait_for(WARMUP_SUBSCRIBERS, None, 60)
    # Counted as they start listening, a moment before they read where they start from: a
    # change committed in that moment is one they are already past, and never sent.
    await asyncio.sleep(1)
    await deliver(server, warm, rt, tenant, 1, start=-1)
    await warm.close()


async def level(
    server: Server, rt: Runtime, tenant: Tenant, keys: list[str], sizes: Sizes, count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Memory before, with and after `count` idle subscribers; delivery, at its level."""
    await server.wait_for(0, 0, 60)
    before = await server.settled_rss(sizes.settle_seconds)
    clients = Clients()
    cpu_before = cpu_seconds(server.pid)
    await clients.start(server.port, keys, count)
    if clients.ready != count:
        raise RuntimeError(f"{clients.failed} of {count} subscribers could not connect")
    await server.wait_for(count, count, 60 + count / 50)
    # All at once, as after a restart: handshake, key, subscription, where it starts.
    connect_cpu = cpu_seconds(server.pid) - cpu_before
    with_them = await server.settled_rss(sizes.settle_seconds)
    delivery: dict[str, Any] = {}
    if count == sizes.delivery_subscribers:
        delivery = await deliver(server, clients, rt, tenant, sizes.delivery_events)
    await clients.close()
    await server.wait_for(0, 0, 60 + count / 50)
    after = await server.settled_rss(sizes.settle_seconds)
    memory = {
        "subscribers": count,
        "rss_before_kib": before,
        "rss_with_kib": with_them,
        "rss_after_kib": after,
        "per_subscriber_kib": (with_them - before) / count,
        "after_ratio": after / before,
        "connect_cpu_ms_per_subscriber": 1000 * connect_cpu / count,
    }
    return memory, delivery


async def run(deployment: Deployment, rt: Runtime, tenant: Tenant, sizes: Sizes) -> dict[str, Any]:
    servers = {}
    for name in ("floor", "product"):
        deployment.restart(name)
        servers[name] = Server(deployment, name)
    keys = await more_keys(rt, tenant.company_id, sizes.subscriber_processes)
    for server in servers.values():
        await warm_up(server, rt, tenant, keys[0])
    results: dict[str, dict[str, Any]] = {name: {"levels": [], "delivery": {}} for name in servers}
    for count in sizes.subscriber_levels:
        for name, server in servers.items():  # the floor first, then the product
            memory, delivery = await level(server, rt, tenant, keys, sizes, count)
            results[name]["levels"].append(memory)
            results[name]["delivery"] = delivery or results[name]["delivery"]
    product, floor = results["product"], results["floor"]
    for mine, theirs in zip(product["levels"], floor["levels"], strict=True):
        mine["per_subscriber_ratio_to_floor"] = ratio(
            mine["per_subscriber_kib"], theirs["per_subscriber_kib"]
        )
    if product["delivery"] and floor["delivery"]:
        product["delivery"]["cpu_ratio_to_floor"] = ratio(
            product["delivery"]["cpu_ms_per_event"], floor["delivery"]["cpu_ms_per_event"]
        )
    return {"subscriptions": {**product, "floor": floor}}

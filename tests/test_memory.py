"""A crowd of subscribers that leaves is freed as each connection closes, and the gateway then
hands the memory back (app/memory.py, app/events.py)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from app.events import TRIM_AFTER_LEAVING
from app.runtime import Runtime
from app.services.api_keys import create_company
from tests.support import Caller, GraphQLSocket

CROWD = TRIM_AFTER_LEAVING + 20
RELEASED = re.compile(r"(\d+) subscribers left; their memory handed back \((\d+) objects")


async def subscriptions_open(base_url: str) -> float:
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{base_url}/metrics")).text
    found = re.search(r"^actions_gateway_subscriptions_open (\S+)$", metrics, re.MULTILINE)
    assert found, "no subscriptions_open gauge"
    return float(found.group(1))


async def released(log: Path, timeout: float = 30) -> tuple[int, int]:
    """The gateway's word that a crowd has left: how many, and what was left in cycles."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = RELEASED.search(await asyncio.to_thread(log.read_text))
        if found:
            return int(found.group(1)), int(found.group(2))
        await asyncio.sleep(0.2)
    raise TimeoutError("the gateway did not hand memory back after the crowd left")


async def test_a_crowd_that_leaves_leaves_nothing_in_reference_cycles(
    start_gateway: Callable[..., str], runtime: Runtime, artifacts: Path
) -> None:
    base_url = start_gateway("crowd", WS_MAX_CONNECTIONS_PER_KEY=str(CROWD))
    company, key = await create_company(runtime.sessions, f"Crowd {uuid.uuid4().hex[:8]}")
    caller = Caller(base_url, str(company.id), key)
    # The first requests of a fresh Redis each fail over from EVALSHA to EVAL (the rate
    # limit's script), leaving exceptions in cycles: not the crowd's to count.
    await caller.graphql("{ actionTypes { name } }")
    async with AsyncExitStack() as stack:
        sockets: list[GraphQLSocket] = []
        for _ in range(CROWD):
            sockets.append(await stack.enter_async_context(caller.websocket()))
        for socket in sockets:
            await socket.subscribe("subscription { actions { id status } }")
        deadline = time.monotonic() + 30
        while await subscriptions_open(base_url) < CROWD:
            assert time.monotonic() < deadline, "the crowd's subscriptions did not all start"
            await asyncio.sleep(0.2)
    left, in_cycles = await released(artifacts / "gateway-crowd.log")
    assert left == CROWD
    # Each closed connection used to leave about 70 objects in cycles (its handler and
    # operations, their tasks' contexts, the protocol and its scope) for this collection.
    assert in_cycles < CROWD, f"{in_cycles} objects in cycles after {CROWD} subscribers left"

"""Turns to start WebSocket operations (app/graphql/starts.py): at most WS_STARTS_AT_ONCE set up
at once, each turn ended as soon as its operation has set up, so that subscriptions that live
long never hold the others back, and a storm of them starts every one, each in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from app.graphql.starts import StartGate
from tests.cluster import Cluster
from tests.support import GraphQLSocket, metrics_reach

STREAM = "subscription { actions { id status sequence } }"
WATCH = "subscription($id: ID!, $v: Int) { action(id: $id, afterVersion: $v) { id status } }"


async def _settle() -> None:
    """Let every task that can run, run (a few turns of the loop)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_turns_go_in_order_and_each_ends_once() -> None:
    gate = StartGate(2, patience=60)
    first, _second = await gate.turn(), await gate.turn()
    third = asyncio.ensure_future(gate.turn())
    fourth = asyncio.ensure_future(gate.turn())
    await _settle()
    assert (third.done(), fourth.done(), gate.waiting) == (False, False, 2)

    first.end()
    first.end()  # a second end hands on nothing more
    await asyncio.wait_for(third, 10)
    await _settle()
    assert (fourth.done(), gate.waiting) == (False, 1)
    fourth.cancel()


async def test_a_turn_not_ended_in_time_is_given_up_once() -> None:
    gate = StartGate(1, patience=0.05)
    slow = await gate.turn()
    following = await asyncio.wait_for(gate.turn(), 10)  # waits out `slow`'s patience
    assert gate.overdue == 1
    slow.end()  # late: its turn was handed on already
    assert gate.slots.locked(), "a late end must not make a second slot"
    following.end()
    assert not gate.slots.locked()


async def test_a_waiter_that_is_cancelled_takes_no_turn() -> None:
    gate = StartGate(1, patience=60)
    held = await gate.turn()
    waiter = asyncio.ensure_future(gate.turn())
    await _settle()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    held.end()
    assert (gate.slots.locked(), gate.waiting) == (False, 0)


class Results:
    """What each operation on one socket sent, read off it as it comes."""

    def __init__(self, ws: GraphQLSocket) -> None:
        self.ws = ws
        self.data: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.completed: set[str] = set()

    async def until(self, done: Callable[[Results], bool]) -> None:
        while not done(self):
            message = await self.ws.receive()
            assert message["type"] in ("next", "data", "complete"), message
            if message["type"] == "complete":
                self.completed.add(message["id"])
            else:
                assert "errors" not in message["payload"], message
                self.data[message["id"]].append(message["payload"]["data"])

    def statuses(self, op: str, field: str) -> list[str]:
        return [data[field]["status"] for data in self.data[op]]


async def test_subscriptions_that_wait_do_not_hold_the_next_ones_back(cluster: Cluster) -> None:
    # One at a time: a subscription that kept its turn while waiting for changes would hold
    # every later one back until its turn was given up (counted as overdue).
    gateway = cluster.start_gateway(WS_STARTS_AT_ONCE="1", WS_START_PATIENCE_SECONDS="10")
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    created = await caller.create_action("tag_app", {"app_id": app_id, "tag_text": "t"})
    action_id = created["action"]["id"]  # pending: no worker yet

    async with caller.websocket() as modern, caller.websocket("graphql-ws") as legacy:
        # Kept tasks, sending nothing until a change: graphql-ws does not park, and
        # `action` with the version already seen sends nothing at first.
        streams = [await legacy.subscribe(STREAM) for _ in range(4)]
        await metrics_reach(gateway, "graphql-ws subscriptions listening", subscriptions_open=4)
        watches = [await modern.subscribe(WATCH, {"id": action_id, "v": 1}) for _ in range(4)]
        parked = [await modern.subscribe(STREAM) for _ in range(2)]
        # A query after them all on the same socket: its turn comes after theirs.
        query = await modern.subscribe("{ __typename }")
        on_modern = Results(modern)
        await on_modern.until(lambda seen: query in seen.completed)
        assert on_modern.data[query] == [{"__typename": "Query"}]
        seen = await metrics_reach(
            gateway,
            "every operation started",
            subscriptions_open=10,
            subscriptions_parked=2,
            websocket_operations_waiting_to_start=0,
        )
        assert seen["websocket_operation_turns_overdue_total"] == 0

        cluster.start_worker()
        on_legacy = Results(legacy)
        await on_modern.until(
            lambda seen: (
                seen.completed.issuperset(watches)
                and all(seen.statuses(op, "actions")[-1:] == ["EXECUTED"] for op in parked)
            )
        )
        await on_legacy.until(
            lambda seen: all(seen.statuses(op, "actions")[-1:] == ["EXECUTED"] for op in streams)
        )
    for op in watches:
        assert on_modern.statuses(op, "action") == ["RUNNING", "EXECUTED"]
    for op in parked:
        assert on_modern.statuses(op, "actions") == ["RUNNING", "EXECUTED"]
    for op in streams:
        assert on_legacy.statuses(op, "actions") == ["RUNNING", "EXECUTED"]


async def test_a_storm_of_subscribers_all_start_and_get_every_change(cluster: Cluster) -> None:
    crowd = 40
    gateway = cluster.start_gateway(WS_STARTS_AT_ONCE="2", WS_MAX_CONNECTIONS_PER_KEY=str(crowd))
    cluster.start_worker()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))

    async with contextlib.AsyncExitStack() as stack:
        sockets = await asyncio.gather(
            *(stack.enter_async_context(caller.websocket()) for _ in range(crowd))
        )
        ops = await asyncio.gather(*(ws.subscribe(STREAM) for ws in sockets))
        await metrics_reach(
            gateway,
            "the whole crowd parked",
            subscriptions_parked=crowd,
            websocket_operations_waiting_to_start=0,
        )
        created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "n"})

        async def changes(ws: GraphQLSocket, op: str) -> list[tuple[int, str]]:
            seen: list[tuple[int, str]] = []
            async for data in ws.results(op):
                seen.append((int(data["actions"]["sequence"]), data["actions"]["status"]))
                if seen[-1][1] == "EXECUTED":
                    return seen
            raise AssertionError(f"{op} completed")

        pairs = zip(sockets, ops, strict=True)
        everyone = await asyncio.gather(*(changes(ws, op) for ws, op in pairs))
    first = everyone[0]
    assert [status for _, status in first] == ["PENDING", "RUNNING", "EXECUTED"], first
    assert [sequence for sequence, _ in first] == list(range(first[0][0], first[0][0] + 3))
    assert all(seen == first for seen in everyone), "each subscriber, the same changes"
    assert created["action"]["status"] == "PENDING"


async def test_an_operation_stopped_while_it_waits_for_its_turn_never_starts(
    cluster: Cluster,
) -> None:
    if cluster.is_sqlite:
        pytest.skip("holds a table lock: runs against PostgreSQL (the CI's second pass does)")
    gateway = cluster.start_gateway(WS_STARTS_AT_ONCE="1", WS_START_PATIENCE_SECONDS="60")
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))

    async with caller.websocket("graphql-ws") as legacy, caller.websocket() as modern:
        async with cluster.runtime.sessions() as session, session.begin():
            # A subscription's start reads where its company's changes stand: while this
            # lock is held, the first one keeps the only turn, and the others wait for it.
            await session.execute(text("LOCK TABLE company IN ACCESS EXCLUSIVE MODE"))
            held = await legacy.subscribe(STREAM)
            await metrics_reach(gateway, "the turn taken", subscriptions_open=1)
            stopped = await legacy.subscribe(STREAM)
            also_stopped = await modern.subscribe(STREAM)
            await metrics_reach(gateway, "two waiting", websocket_operations_waiting_to_start=2)
            await legacy.stop(stopped)
            # graphql-ws answers a stop with `complete`, as for a running operation.
            assert await legacy.receive() == {"type": "complete", "id": stopped}
            await modern.stop(also_stopped)
            await metrics_reach(gateway, "none waiting", websocket_operations_waiting_to_start=0)
        # The lock released, the first one starts; the stopped ones never do.
        await metrics_reach(gateway, "the first one started", subscriptions_open=1)
        cluster.start_worker()
        await caller.create_action("note_app", {"app_id": app_id, "note_text": "n"})
        on_legacy = Results(legacy)
        await on_legacy.until(lambda seen: seen.statuses(held, "actions")[-1:] == ["EXECUTED"])
    assert set(on_legacy.data) == {held}
    assert on_legacy.statuses(held, "actions") == ["PENDING", "RUNNING", "EXECUTED"]
    assert not on_legacy.completed
    seen = await metrics_reach(gateway, "all closed", subscriptions_open=0)
    assert seen["websocket_operation_turns_overdue_total"] == 0

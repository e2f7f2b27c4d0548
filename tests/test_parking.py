"""Parked subscriptions: an idle `actions` subscription waits on the event bus without a task
of its own (app/graphql/fanout.py), gets its next changes straight from the bus, and runs
again, on the same listener, only for what a direct send cannot do: nothing missed, nothing
twice, and nothing left on the bus once its client has gone."""

from __future__ import annotations

import asyncio
from typing import Any

from app.faults import CRASH_EXIT_CODE, Fault
from tests.cluster import Cluster
from tests.support import GraphQLSocket, metrics_reach

STREAM = "subscription($after: BigInt) { actions(after: $after) { id status sequence } }"
WATCH = "subscription($id: ID!) { action(id: $id) { id status } }"


async def _changes(ws: GraphQLSocket, op: str, count: int) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    async for data in ws.results(op):
        changes.append(data["actions"])
        if len(changes) == count:
            break
    return changes


def _in_order(changes: list[dict[str, Any]]) -> list[int]:
    sequences = [int(change["sequence"]) for change in changes]
    assert sequences == sorted(set(sequences)), f"each change once, in order: {sequences}"
    return sequences


async def test_an_idle_subscription_is_parked_and_leaves_the_bus_with_its_client(
    cluster: Cluster,
) -> None:
    gateway = cluster.start_gateway()
    cluster.start_worker()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))

    async with caller.websocket() as modern, caller.websocket("graphql-ws") as legacy:
        op = await modern.subscribe(STREAM)
        # graphql-ws has no parking: its subscription keeps its task.
        await legacy.subscribe(STREAM)
        await modern.subscribe(WATCH, {"id": "999999"})  # not found: it ends at once
        await metrics_reach(
            gateway, "one parked of two", subscriptions_open=2, subscriptions_parked=1
        )

        created = [
            await caller.create_action("tag_app", {"app_id": app_id, "tag_text": f"p{n}"})
            for n in range(3)
        ]
        # Each action's creation, start and end: nine changes, straight from the bus.
        changes = await _changes(modern, op, 9)
        _in_order(changes)
        assert {change["id"] for change in changes} == {c["action"]["id"] for c in created}
        assert await metrics_reach(
            gateway, "parked again", subscriptions_open=2, subscriptions_parked=1
        )

        await modern.stop(op)
        await metrics_reach(
            gateway, "stopped: off the bus", subscriptions_open=1, subscriptions_parked=0
        )
        # A new subscription on the same socket parks in turn; the socket's end frees it.
        await modern.subscribe(STREAM)
        await metrics_reach(
            gateway, "a second one parked", subscriptions_open=2, subscriptions_parked=1
        )
    await metrics_reach(
        gateway, "sockets closed: nothing left", subscriptions_open=0, subscriptions_parked=0
    )


async def test_a_parked_subscription_woken_by_a_gap_sends_what_it_missed_first(
    cluster: Cluster,
) -> None:
    gateway = cluster.start_gateway()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))

    async with caller.websocket() as ws:
        op = await ws.subscribe(STREAM)
        before = await metrics_reach(gateway, "parked", subscriptions_parked=1)
        # This worker commits the effect and dies before it can publish the change: the
        # stream's next published change comes after a gap.
        lost = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
        crashing = cluster.start_worker("crashing", fault=Fault.CRASH_AFTER_COMMIT)
        assert await asyncio.to_thread(crashing.wait, 90) == CRASH_EXIT_CODE
        cluster.start_worker()
        after = await caller.create_action("note_app", {"app_id": app_id, "note_text": "y"})

        seen: list[dict[str, Any]] = []
        async for data in ws.results(op):
            seen.append(data["actions"])
            if seen[-1]["id"] == after["action"]["id"] and seen[-1]["status"] == "EXECUTED":
                break
        sequences = _in_order(seen)
        assert sequences == list(range(sequences[0], sequences[-1] + 1)), "no gap"
        lost_id = lost["action"]["id"]
        assert [c["status"] for c in seen if c["id"] == lost_id][-1] == "EXECUTED"
        woken = await metrics_reach(gateway, "parked again", subscriptions_parked=1)
    wakes = "subscription_wakes_total"
    assert woken[wakes] > before[wakes]

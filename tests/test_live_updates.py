"""Subscriptions without gaps: every change in order, none twice, none missed, across
reconnects, lost events, and two gateways."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from app.faults import CRASH_EXIT_CODE, Fault
from app.runtime import Runtime
from app.services.api_keys import create_company
from tests.cluster import Cluster
from tests.support import Caller, GraphQLSocket

WATCH = "subscription($id: ID!) { action(id: $id) { id status version sequence } }"
STREAM = "subscription($after: BigInt) { actions(after: $after) { id status version sequence } }"


async def _until_final(
    ws: GraphQLSocket, op: str, wanted: set[str], field: str = "actions"
) -> list[dict[str, Any]]:
    """The stream's changes until every wanted action has been seen EXECUTED."""
    seen: list[dict[str, Any]] = []
    done: set[str] = set()
    async for data in ws.results(op):
        change = data[field]
        seen.append(change)
        if change["status"] == "EXECUTED" and change["id"] in wanted:
            done.add(change["id"])
        if done == wanted:
            return seen
    raise AssertionError("the stream ended")


def _in_order(changes: list[dict[str, Any]]) -> None:
    sequences = [c["sequence"] for c in changes]
    assert sequences == sorted(set(sequences)), "each change once, in sequence order"


async def test_actions_stream_resumes_after_a_disconnect_with_what_was_missed(
    caller: Caller,
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))

    async def note(text: str) -> str:
        payload = await caller.create_action("note_app", {"app_id": app_id, "note_text": text})
        action_id: str = payload["action"]["id"]
        return action_id

    async with caller.websocket() as ws:
        op = await ws.subscribe(STREAM)
        before = {await note("1"), await note("2")}
        first = await _until_final(ws, op, before)
    _in_order(first)
    last = first[-1]["sequence"]

    # While nobody listens, two more actions run to the end.
    missed = {await note("3"), await note("4")}
    for action_id in missed:
        await caller.wait_for_status(action_id, {"EXECUTED"})

    async with caller.websocket("graphql-ws") as ws:
        op = await ws.subscribe(STREAM, {"after": last})
        live = await note("5")
        resumed = await _until_final(ws, op, missed | {live})
    _in_order(resumed)
    assert all(c["sequence"] > last for c in resumed), "nothing already seen is sent again"
    assert not {c["id"] for c in resumed} & before
    # What was missed comes folded into its current state, once.
    replayed = [c for c in resumed if c["id"] in missed]
    assert sorted(c["status"] for c in replayed) == ["EXECUTED", "EXECUTED"]


async def test_actions_stream_refuses_to_resume_after_a_change_that_never_was(
    caller: Caller,
) -> None:
    async with caller.websocket() as ws:
        op = await ws.subscribe(STREAM, {"after": 10**12})
        message = await ws.receive()
    assert message["id"] == op and message["type"] == "next", message
    [error] = message["payload"]["errors"]
    assert "beyond the latest change" in error["message"]
    assert error["extensions"]["code"] == "OUT_OF_RANGE"


async def test_action_subscription_after_a_version_sends_only_what_is_newer(
    caller: Caller,
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
    done = await caller.wait_for_status(created["action"]["id"], {"EXECUTED"})
    query = (
        "subscription($id: ID!, $v: Int) { action(id: $id, afterVersion: $v) { status version } }"
    )
    async with caller.websocket() as ws:
        up_to_date = await ws.subscribe(query, {"id": done["id"], "v": done["version"]})
        assert [d async for d in ws.results(up_to_date)] == []
        behind = await ws.subscribe(query, {"id": done["id"], "v": done["version"] - 1})
        assert [d["action"] async for d in ws.results(behind)] == [
            {"status": "EXECUTED", "version": done["version"]}
        ]


RACES = 1000
RACERS = 20


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_subscribing_while_actions_complete_never_misses_the_end(
    caller: Caller, runtime: Runtime
) -> None:
    """1,000 races between a subscription starting and its action finishing, from 20 clients
    (each its own company: an API key's rate limit is the product's, not this test's)."""
    mutation = (
        'mutation($data: JSON!) { createAction(input: {type: "note_app", data: $data}) '
        "{ action { id } errors { message } } }"
    )
    endings: list[str] = []

    async def racer(n: int) -> None:
        company, key = await create_company(runtime.sessions, f"Racer {n}")
        assert company.id is not None
        client = Caller(caller.base_url, str(company.id), key)
        app_id = int(await client.create_app(await client.create_job()))
        protocol = "graphql-transport-ws" if n % 2 else "graphql-ws"
        async with (
            httpx.AsyncClient(base_url=client.base_url, headers=client.headers, timeout=60) as http,
            client.websocket(protocol) as ws,
        ):
            for i in range(RACES // RACERS):
                data = {"app_id": app_id, "note_text": f"{n}.{i}"}
                response = await http.post(
                    "/graphql", json={"query": mutation, "variables": {"data": data}}
                )
                action_id = response.json()["data"]["createAction"]["action"]["id"]
                # Subscribe before, while or after the worker runs it.
                await asyncio.sleep(random.uniform(0, 0.03))
                op = await ws.subscribe(WATCH, {"id": action_id})
                seen = [d["action"] async for d in ws.results(op)]
                versions = [a["version"] for a in seen]
                assert versions == sorted(set(versions)), seen
                assert [a["status"] for a in seen].count("EXECUTED") == 1, seen
                endings.append(seen[-1]["status"])

    await asyncio.gather(*(racer(n) for n in range(RACERS)))
    assert endings == ["EXECUTED"] * RACES


async def test_a_change_never_published_still_reaches_subscribers(cluster: Cluster) -> None:
    gateway = cluster.start_gateway()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
    action_id = created["action"]["id"]

    async with caller.websocket() as one, caller.websocket() as stream:
        watch = await one.subscribe(WATCH, {"id": action_id})
        watched = one.results(watch)
        assert (await anext(watched))["action"]["status"] == "PENDING"
        company = await stream.subscribe(STREAM)
        # This worker commits the effect and dies before it can publish the change.
        crashing = cluster.start_worker("crashing", fault=Fault.CRASH_AFTER_COMMIT)
        rest = [d["action"] async for d in watched]
        streamed = await _until_final(stream, company, {action_id})
    assert await asyncio.to_thread(crashing.wait, 90) == CRASH_EXIT_CODE
    assert rest[-1]["status"] == "EXECUTED"
    assert streamed[-1]["status"] == "EXECUTED"
    _in_order(streamed)


async def test_two_gateways_and_two_workers_share_one_database_and_one_redis(
    cluster: Cluster,
) -> None:
    one = cluster.start_gateway("gateway-one")
    two = cluster.start_gateway("gateway-two")
    cluster.start_worker("worker-one")
    cluster.start_worker("worker-two")
    on_one = await cluster.company(one)
    on_two = Caller(two, on_one.company_id, on_one.api_key)
    app_id = await cluster.app(int(on_one.company_id))

    async with on_one.websocket() as ws, on_one.websocket() as single:
        op = await ws.subscribe(STREAM)
        first = await on_two.create_action("note_app", {"app_id": app_id, "note_text": "0"})
        # Watch it on the first gateway, though it was made through the second.
        watch = await single.subscribe(WATCH, {"id": first["action"]["id"]})
        created = [first] + [
            await on_two.create_action("note_app", {"app_id": app_id, "note_text": str(n)})
            for n in range(1, 20)
        ]
        ids = {c["action"]["id"] for c in created}

        async def watched() -> list[str]:
            return [d["action"]["status"] async for d in single.results(watch)]

        streamed, statuses = await asyncio.gather(_until_final(ws, op, ids), watched())
    _in_order(streamed)
    assert statuses[-1] == "EXECUTED"
    assert await cluster.effects([int(i) for i in ids]) == 20

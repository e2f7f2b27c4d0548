"""One event, many subscribers: each selection is executed once per event and shared
(app/graphql/fanout.py), yet every subscriber gets its own selection's shape, under its own
operation id, and no other company's subscriber gets anything."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from tests.support import Caller, GraphQLSocket, gateway_metrics

NARROW = "subscription { actions { id status sequence } }"
WIDE = "subscription { actions { id type typeName data status version } }"
ALIASED = "subscription { actions { ident: id state: status } }"
RESUMING = "subscription($after: BigInt) { actions(after: $after) { sequence status } }"
TYPED = "subscription { actions { id typedData { ... on NoteAppData { appId noteText } } } }"
WATCH = "subscription($id: ID!) { action(id: $id) { id status version } }"
SENT_DIRECTLY = "subscription_changes_sent_directly_total"


async def _first_of(ws: GraphQLSocket, op: str, field: str = "actions") -> dict[str, Any]:
    async for data in ws.results(op):
        assert set(data) == {field}, data
        change: dict[str, Any] = data[field]
        return change
    raise AssertionError("the stream ended")


async def _firsts(ws: GraphQLSocket, ops: set[str]) -> dict[str, dict[str, Any]]:
    """The first change each of a socket's operations receives (they interleave)."""
    firsts: dict[str, dict[str, Any]] = {}
    while set(firsts) != ops:
        message = await ws.receive()
        assert message["type"] in ("next", "data"), message
        assert "errors" not in message["payload"], message
        firsts.setdefault(message["id"], message["payload"]["data"]["actions"])
    return firsts


async def test_subscribers_of_one_event_each_get_their_own_selection(
    caller: Caller, other_caller: Caller
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(caller.websocket(protocol))
            for protocol in ("graphql-transport-ws", "graphql-ws", "graphql-transport-ws")
        ]
        legacy = sockets[1]
        # The same selection on three sockets (one per protocol, and two on one socket),
        # and different selections and variables of the same field.
        subscribed: list[tuple[GraphQLSocket, str, str]] = []
        for ws in sockets:
            subscribed.append((ws, await ws.subscribe(NARROW), "narrow"))
        subscribed.append((sockets[0], await sockets[0].subscribe(NARROW), "narrow"))
        subscribed.append((sockets[0], await sockets[0].subscribe(WIDE), "wide"))
        subscribed.append((legacy, await legacy.subscribe(ALIASED), "aliased"))
        subscribed.append((sockets[2], await sockets[2].subscribe(RESUMING), "resuming"))
        subscribed.append(
            (sockets[2], await sockets[2].subscribe(RESUMING, {"after": None}), "resuming")
        )
        subscribed.append((sockets[2], await sockets[2].subscribe(TYPED), "typed"))
        stranger = await stack.enter_async_context(other_caller.websocket())
        stranger_op = await stranger.subscribe(NARROW)
        await asyncio.sleep(0.5)  # every subscription listens before the change is made

        created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "hi"})
        action_id = created["action"]["id"]

        # Each socket reads its operations' messages in the order they come.
        firsts: dict[tuple[int, str], dict[str, Any]] = {}
        for ws in sockets:
            ops = {op for s, op, _ in subscribed if s is ws}
            for op, change in (await _firsts(ws, ops)).items():
                firsts[(id(ws), op)] = change
        for ws, op, kind in subscribed:
            change = firsts[(id(ws), op)]
            if kind == "narrow":
                assert set(change) == {"id", "status", "sequence"}
                assert change["id"] == action_id
                assert change["status"] == "PENDING"
            elif kind == "wide":
                assert set(change) == {"id", "type", "typeName", "data", "status", "version"}
                assert (change["type"], change["typeName"]) == ("note_app", "NoteApp")
                assert change["data"] == {"app_id": app_id, "note_text": "hi"}
            elif kind == "aliased":
                assert change == {"ident": action_id, "state": "PENDING"}
            elif kind == "resuming":
                assert set(change) == {"sequence", "status"}
            else:
                assert change == {
                    "id": action_id,
                    "typedData": {"appId": str(app_id), "noteText": "hi"},
                }

        # A watcher of the action, subscribed now, gets it at once, then its later changes.
        watcher = sockets[0]
        watch_op = await watcher.subscribe(WATCH, {"id": action_id})
        statuses = []
        async for data in watcher.results(watch_op):
            if data is None:
                continue
            statuses.append(data["action"]["status"])
            assert set(data["action"]) == {"id", "status", "version"}
        assert statuses[-1] == "EXECUTED"

        # The other company's subscriber got nothing of this: its first message is its own.
        other_app = int(await other_caller.create_app(await other_caller.create_job()))
        own = await other_caller.create_action("note_app", {"app_id": other_app, "note_text": "x"})
        first = await _first_of(stranger, stranger_op)
        assert first["id"] == own["action"]["id"]


async def _raw_messages(ws: GraphQLSocket, count: int) -> list[str]:
    """The next `count` result messages, as the text the server wrote."""
    frames: list[str] = []
    while len(frames) < count:
        frame = await asyncio.wait_for(ws.ws.recv(), 30)
        assert isinstance(frame, str)
        if json.loads(frame)["type"] in ("next", "data"):
            frames.append(frame)
    return frames


async def test_idle_subscribers_get_live_changes_straight_from_the_bus(caller: Caller) -> None:
    """A waiting subscription's next change is written to its socket by the bus, without
    waking it: the same message, byte for byte, in order, under each operation's own id;
    and once its client stops it, nothing more."""
    app_id = int(await caller.create_app(await caller.create_job()))
    async with AsyncExitStack() as stack:
        modern = await stack.enter_async_context(caller.websocket("graphql-transport-ws"))
        legacy = await stack.enter_async_context(caller.websocket("graphql-ws"))
        ops = [(modern, await modern.subscribe(NARROW)), (legacy, await legacy.subscribe(NARROW))]
        stopped = await modern.subscribe(NARROW)
        await asyncio.sleep(0.5)  # all three wait for the next change
        await modern.stop(stopped)
        await asyncio.sleep(0.2)
        before = (await gateway_metrics(caller.base_url))[SENT_DIRECTLY]

        made = [
            (await caller.create_action("tag_app", {"app_id": app_id, "tag_text": f"d{n}"}))
            for n in range(3)
        ]
        ids = {created["action"]["id"] for created in made}
        for ws, op in ops:
            seen: list[int] = []
            expected_keys = ["id", "type", "payload"]
            if ws.protocol == "graphql-ws":
                expected_keys = ["type", "id", "payload"]
            # The three creations, and whatever the worker has done since, in order.
            received: set[str] = set()
            while not ids <= received:
                for frame in await _raw_messages(ws, 1):
                    message = json.loads(frame, object_pairs_hook=list)
                    assert [key for key, _ in message] == expected_keys, frame
                    parsed = json.loads(frame)
                    assert parsed["id"] == op, frame  # never the stopped operation's
                    # Compact JSON, as Strawberry's own messages (orjson) are.
                    assert frame == json.dumps(parsed, separators=(",", ":")), frame
                    change = parsed["payload"]["data"]["actions"]
                    assert set(change) == {"id", "status", "sequence"}
                    seen.append(int(change["sequence"]))
                    received.add(change["id"])
            assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
        assert (await gateway_metrics(caller.base_url))[SENT_DIRECTLY] > before

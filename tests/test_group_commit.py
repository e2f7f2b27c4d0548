"""Concurrent creates share a transaction and a Redis round trip, and each is still its own:
stored once, numbered without gaps, refused alone, replayed by its idempotency key.

On a private deployment with no worker, so that every action stays as its creation left it
(its number, its queued job) for the test to read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
from arq.constants import default_queue_name, job_key_prefix
from redis.asyncio import Redis
from sqlmodel import col, select

from app.actions import get_action_type
from app.errors import ErrorCode, ValidationFailed
from app.models import Action, ActionStatus
from app.queue import job_id
from app.rest.common import PREFIX
from app.services import actions
from app.services.actions import Created, NewAction, write_creates
from app.services.batching import Batcher
from app.services.idempotency import KEY_FIELD
from tests.cluster import Cluster
from tests.support import Caller

# A burst on a busy machine may take a while; a request's time limit is not what is tested.
PATIENT = {"REQUEST_TIMEOUT_SECONDS": "120"}
GENERIC = (
    "mutation($type: String!, $data: JSON!, $key: String) "
    "{ createAction(input: {type: $type, data: $data, idempotencyKey: $key}) "
    "{ action { id sequence } errors { field code } } }"
)
TYPED = (
    "mutation($appId: ID!, $text: String!) "
    "{ createTagAppAction(input: {appId: $appId, tagText: $text}) "
    "{ action { id sequence } errors { field code } } }"
)


async def _create(
    client: httpx.AsyncClient, caller: Caller, how: str, data: dict[str, Any], key: str | None
) -> tuple[str | None, list[dict[str, Any]]]:
    """One create over HTTP: the action's id (None if refused) and the refusal's errors."""
    headers = caller.headers
    if how == "rest":
        if key is not None:
            headers = {**headers, "Idempotency-Key": key}
        body = {"type": "tag_app", "data": data}
        response = await client.post(f"{PREFIX}/actions", json=body, headers=headers)
        if response.status_code in (200, 201):
            return str(response.json()["id"]), []
        assert response.status_code == 422, response.text
        return None, list(response.json()["errors"])
    if how == "typed":
        variables: dict[str, Any] = {"appId": str(data["app_id"]), "text": data["tag_text"]}
        response = await client.post(
            "/graphql", json={"query": TYPED, "variables": variables}, headers=headers
        )
        payload = (response.json()["data"] or {}).get("createTagAppAction")
    else:
        variables = {"type": "tag_app", "data": data, "key": key}
        response = await client.post(
            "/graphql", json={"query": GENERIC, "variables": variables}, headers=headers
        )
        payload = (response.json()["data"] or {}).get("createAction")
    assert response.status_code == 200 and payload is not None, response.text
    action = payload["action"]
    return (None if action is None else str(action["id"])), list(payload["errors"])


async def _stored(cluster: Cluster, company_id: str) -> list[Action]:
    async with cluster.runtime.sessions() as session:
        rows = await session.scalars(
            select(Action).where(col(Action.company_id) == int(company_id)).order_by(col(Action.id))
        )
        return list(rows.all())


async def test_a_burst_of_creates_is_stored_once_each_numbered_without_gaps(
    cluster: Cluster,
) -> None:
    base_url = cluster.start_gateway(**PATIENT)
    first, second = await cluster.company(base_url), await cluster.company(base_url)
    apps = {c.company_id: await cluster.app(int(c.company_id)) for c in (first, second)}
    # 200 at once, from two companies, over the three front ends; every fifth is refused:
    # by its shape (checked before the batch) or by a reference (checked in the batch).
    calls: list[tuple[Caller, str, dict[str, Any], str | None]] = []
    for n in range(200):
        caller, other = (first, second) if n % 2 else (second, first)
        how = ("graphql", "typed", "rest")[n % 3]
        data: dict[str, Any] = {"app_id": apps[caller.company_id], "tag_text": f"tag {n}"}
        refusal = None
        if n % 5 == 0:
            refusal = ("NOT_FOUND", "BLANK")[n % 10 == 0]
            if refusal == "NOT_FOUND":
                data["app_id"] = apps[other.company_id]  # the other company's: not found
            else:
                data["tag_text"] = ""
        calls.append((caller, how, data, refusal))
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        results = await asyncio.gather(
            *(_create(client, c, how, d, None) for c, how, d, _ in calls)
        )

    made: dict[str, list[str]] = {first.company_id: [], second.company_id: []}
    for (caller, how, data, refusal), (action_id, errors) in zip(calls, results, strict=True):
        if refusal is None:
            assert action_id is not None and errors == [], (how, data, errors)
            made[caller.company_id].append(action_id)
        else:
            assert action_id is None, (how, data)
            key = "app_id" if refusal == "NOT_FOUND" else "tag_text"
            field = (
                {"app_id": "appId", "tag_text": "tagText"}[key] if how == "typed" else f"data.{key}"
            )
            assert [(e["field"], e["code"]) for e in errors] == [(field, refusal)], (how, errors)

    redis = Redis.from_url(cluster.redis.url)
    try:
        for caller in (first, second):
            rows = await _stored(cluster, caller.company_id)
            # Each accepted call stored exactly its one action, and nothing else was stored.
            assert sorted(str(r.id) for r in rows) == sorted(made[caller.company_id])
            assert len(rows) == 80
            # Numbered 1, 2, 3, ... in the company: no gap, no number twice.
            assert sorted(r.sequence for r in rows) == list(range(1, len(rows) + 1))
            assert all(r.status is ActionStatus.PENDING for r in rows)
            # And each queued as arq's job of its first version.
            keys = [job_key_prefix + job_id(r.id or 0, r.version) for r in rows]
            assert await redis.exists(*keys) == len(rows)
            queued = await redis.zrange(default_queue_name, 0, -1)
            assert {job_id(r.id or 0, r.version).encode() for r in rows} <= set(queued)
    finally:
        await redis.aclose()


async def test_one_idempotency_key_in_one_burst_makes_one_action(cluster: Cluster) -> None:
    base_url = cluster.start_gateway(**PATIENT)
    caller = await cluster.company(base_url)
    app_id = await cluster.app(int(caller.company_id))
    data = {"app_id": app_id, "tag_text": "once"}
    keys = [f"key-{uuid.uuid4()}" for _ in range(10)]
    # Each key five times at once, over GraphQL and REST; the last key once more with
    # another body, which must be refused if the action is the first body's (or vice versa).
    calls = [(key, ("graphql", "rest")[n % 2], data) for key in keys for n in range(5)]
    calls.append((keys[-1], "rest", {**data, "tag_text": "other"}))
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        results = await asyncio.gather(
            *(_create(client, caller, how, body, key) for key, how, body in calls)
        )
    rows = await _stored(cluster, caller.company_id)
    assert sorted(r.idempotency_key or "" for r in rows) == sorted(keys)
    by_key = {r.idempotency_key: r for r in rows}
    for (key, how, body), (action_id, errors) in zip(calls, results, strict=True):
        stored = by_key[key]
        if stored.data == body:
            assert action_id == str(stored.id) and errors == [], (how, errors)
        else:
            assert action_id is None
            assert [e["code"] for e in errors] == [ErrorCode.IDEMPOTENCY_KEY_REUSED.value]
    assert sorted(r.sequence for r in rows) == list(range(1, len(rows) + 1))


def _new(company_id: int, data: dict[str, Any], key: str | None = None) -> NewAction:
    action_type = get_action_type("tag_app")
    assert action_type is not None
    return NewAction(
        company_id=company_id,
        type_name="tag_app",
        requirements=action_type.create_action,
        data=data,
        idempotency_key=key,
        key_field=KEY_FIELD,
        request_id=None,
    )


async def test_calls_in_one_batch_are_each_answered_for_themselves(cluster: Cluster) -> None:
    rt = cluster.runtime
    company_id = int((await cluster.company()).company_id)
    app_id = await cluster.app(company_id)
    good = {"app_id": app_id, "tag_text": "good"}
    # Gathered without a pause, these are submitted before the writer first runs: one batch.
    outcomes = await asyncio.gather(
        actions.create_or_replay(rt, company_id, "tag_app", good),
        actions.create_or_replay(rt, company_id, "tag_app", {**good, "app_id": app_id + 999}),
        actions.create_or_replay(rt, company_id, "tag_app", {**good, "tag_text": ""}),
        actions.create_or_replay(rt, company_id, "tag_app", good),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Created) and isinstance(outcomes[3], Created)
    assert not outcomes[0].replayed and not outcomes[3].replayed
    assert isinstance(outcomes[1], ValidationFailed)
    assert [(p.field, p.code) for p in outcomes[1].problems] == [("data.app_id", "NOT_FOUND")]
    assert isinstance(outcomes[2], ValidationFailed)
    assert [(p.field, p.code) for p in outcomes[2].problems] == [("data.tag_text", "BLANK")]
    rows = await _stored(cluster, str(company_id))
    assert [r.id for r in rows] == [outcomes[0].action.id, outcomes[3].action.id]
    assert [r.sequence for r in rows] == [1, 2]


async def test_a_key_taken_by_another_gateway_meanwhile_fails_no_one_else(
    cluster: Cluster,
) -> None:
    rt = cluster.runtime
    company_id = int((await cluster.company()).company_id)
    app_id = await cluster.app(company_id)
    data = {"app_id": app_id, "tag_text": "raced"}
    # Another gateway stores the key after this batch's calls looked for it, before it commits.
    theirs = await actions.create_action(rt, company_id, "tag_app", data, idempotency_key="k")
    batch = [
        _new(company_id, data, "k"),
        _new(company_id, data),
        _new(company_id, {**data, "tag_text": "other"}, "k"),
        _new(company_id, data, "k2"),
    ]
    outcomes = await write_creates(rt, batch)
    replayed, fresh, reused, keyed = outcomes
    assert isinstance(replayed, Created) and replayed.replayed
    assert replayed.action.id == theirs.id
    assert isinstance(fresh, Created) and not fresh.replayed
    assert isinstance(reused, ValidationFailed)
    assert reused.problems[0].code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert isinstance(keyed, Created) and not keyed.replayed
    rows = await _stored(cluster, str(company_id))
    assert [r.id for r in rows] == [theirs.id, fresh.action.id, keyed.action.id]
    assert sorted(r.sequence for r in rows) == [1, 2, 3]


async def test_a_caller_that_stops_waiting_leaves_its_action_whole(cluster: Cluster) -> None:
    rt = cluster.runtime
    company_id = int((await cluster.company()).company_id)
    app_id = await cluster.app(company_id)
    data = {"app_id": app_id, "tag_text": "abandoned"}
    abandoned = asyncio.create_task(actions.create_or_replay(rt, company_id, "tag_app", data))
    await asyncio.sleep(0)  # it has submitted its action
    abandoned.cancel()
    kept = await actions.create_or_replay(rt, company_id, "tag_app", data)
    await rt.creates.idle()
    assert abandoned.cancelled()
    rows = await _stored(cluster, str(company_id))
    assert len(rows) == 2 and kept.action.id in {r.id for r in rows}
    assert sorted(r.sequence for r in rows) == [1, 2]


async def test_a_failed_batch_fails_each_of_its_callers() -> None:
    failure = RuntimeError("the database is away")

    async def write(items: list[int]) -> list[int | Exception]:
        if 0 in items:
            raise failure
        return [item if item > 0 else ValueError(item) for item in items]

    writer: Batcher[int, int] = Batcher(write, shielded=True)
    first = await asyncio.gather(*(writer.submit(n) for n in (0, 1, 2)), return_exceptions=True)
    assert first == [failure, failure, failure]
    second = await asyncio.gather(*(writer.submit(n) for n in (3, -1, 4)), return_exceptions=True)
    assert second[0] == 3 and second[2] == 4 and isinstance(second[1], ValueError)
    assert Counter(type(o) for o in second)[int] == 2

"""An action's life after its creation: permanent failure, cancel, retry, idempotent
creation, and retention."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select

from app.faults import Fault
from app.models import Action, ActionStatus, App, Note, TriggerEvent, WorkflowEvent, utcnow
from app.queue import job_id, queued
from app.runtime import Runtime
from app.services import actions, sweeper
from app.services.retention import action_references
from tests.cluster import Cluster, database_outage, wait_for_file, wait_for_log
from tests.support import Caller, GraphQLSocket

FIELDS = "id status attempts error executedAt version sequence"
STREAM = f"subscription {{ actions {{ {FIELDS} }} }}"
PAYLOAD = f"{{ action {{ {FIELDS} }} errors {{ field message code }} }}"
CANCEL = f"mutation($id: ID!) {{ cancelAction(id: $id) {PAYLOAD} }}"
RETRY = f"mutation($id: ID!) {{ retryAction(id: $id) {PAYLOAD} }}"


async def _changes_until(
    ws: GraphQLSocket, op: str, action_id: str, status: str
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    async for data in ws.results(op):
        changes.append(data["actions"])
        if data["actions"]["id"] == action_id and data["actions"]["status"] == status:
            return changes
    raise AssertionError("the stream ended")


async def test_permanent_failure_fails_at_once_with_one_event(cluster: Cluster) -> None:
    gateway = cluster.start_gateway()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    other_app = await cluster.app(int(caller.company_id))
    async with caller.websocket() as ws:
        op = await ws.subscribe(STREAM)
        doomed = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
        # The application goes away before any worker gets to the action.
        async with cluster.runtime.sessions.begin() as session:
            await session.execute(delete(App).where(col(App.id) == app_id))
        cluster.start_worker()
        doomed_id = doomed["action"]["id"]
        changes = await _changes_until(ws, op, doomed_id, "FAILED")
        # The stream is in commit order: once an action created after the failure is seen
        # done, any later change of the doomed action would have been seen before it.
        later = await caller.create_action("note_app", {"app_id": other_app, "note_text": "y"})
        changes += await _changes_until(ws, op, later["action"]["id"], "EXECUTED")
    of_doomed = [c for c in changes if c["id"] == doomed_id]
    assert [c["status"] for c in of_doomed] == ["PENDING", "RUNNING", "FAILED"]
    failed = of_doomed[-1]
    assert failed["attempts"] == 1 and failed["executedAt"] is None
    assert failed["error"] == f"app {app_id} no longer exists"
    # No further try: the sweeper leaves a FAILED action alone.
    report = await sweeper.sweep(cluster.runtime)
    assert report.queued == 0 and report.failed == 0
    row = await cluster.action(int(doomed_id))
    assert row.version == failed["version"] and row.attempts == 1


async def test_cancel_a_pending_action(cluster: Cluster) -> None:
    gateway = cluster.start_gateway()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
    action_id = created["action"]["id"]

    canceled = (await caller.graphql(CANCEL, {"id": action_id}))["cancelAction"]
    assert canceled["errors"] == [] and canceled["action"]["status"] == "CANCELED"
    again = (await caller.graphql(CANCEL, {"id": action_id}))["cancelAction"]
    assert again["action"] is None
    assert again["errors"] == [
        {
            "field": "id",
            "message": f"action {action_id} is CANCELED: only a PENDING action can be canceled",
            "code": "INVALID_STATE",
        }
    ]
    retried = (await caller.graphql(RETRY, {"id": action_id}))["retryAction"]
    assert retried["errors"][0]["code"] == "INVALID_STATE"
    unknown = (await caller.graphql(CANCEL, {"id": "999999"}))["cancelAction"]
    assert unknown["errors"][0]["code"] == "NOT_FOUND"

    # Its job was queued; the worker takes it and finds nothing to do.
    cluster.start_worker()
    key = job_id(int(action_id), 1)
    while (await queued(cluster.runtime.redis, [key]))[0]:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    row = await cluster.action(int(action_id))
    assert row.status is ActionStatus.CANCELED and row.attempts == 0
    assert await cluster.effects([int(action_id)]) == 0


async def test_retry_a_failed_action(cluster: Cluster) -> None:
    gateway = cluster.start_gateway()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    marker = cluster.marker("worker")
    cluster.start_worker(
        "worker",
        fault=Fault.PAUSE_BEFORE_EFFECT,
        ACTION_MAX_TRIES="1",
        DATABASE_LOCK_TIMEOUT_SECONDS="1",
    )
    created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "x"})
    action_id = created["action"]["id"]
    assert await wait_for_file(marker) == action_id
    # Its only try meets a database outage: the action fails for good.
    async with database_outage(cluster):
        marker.unlink()
        await wait_for_log(cluster, "worker", f"action {action_id} try 1 failed")
    failed = await cluster.wait_for_status(int(action_id), ActionStatus.FAILED)
    assert failed.error is not None and failed.error.startswith("gave up after 1 tries")

    retried = (await caller.graphql(RETRY, {"id": action_id}))["retryAction"]
    assert retried["errors"] == []
    assert retried["action"]["status"] in ("PENDING", "RUNNING")
    assert await wait_for_file(marker) == action_id
    marker.unlink()
    done = await cluster.wait_for_status(int(action_id), ActionStatus.EXECUTED)
    assert done.attempts == 1 and done.error is None
    assert await cluster.effects([int(action_id)]) == 1


CREATE = (
    "mutation($data: JSON!, $key: String) { createAction(input: "
    '{type: "note_app", data: $data, idempotencyKey: $key}) '
    "{ action { id status } errors { field message code } } }"
)


async def test_the_same_idempotency_key_returns_the_first_action(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    data = {"app_id": app_id, "note_text": "once"}
    key = f"key-{uuid.uuid4()}"
    first = (await caller.graphql(CREATE, {"data": data, "key": key}))["createAction"]
    again = (await caller.graphql(CREATE, {"data": data, "key": key}))["createAction"]
    assert first["errors"] == [] and again["errors"] == []
    assert again["action"]["id"] == first["action"]["id"]

    other = await caller.graphql(CREATE, {"data": {**data, "note_text": "twice"}, "key": key})
    assert other["createAction"]["action"] is None
    [error] = other["createAction"]["errors"]
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED" and error["field"] == "idempotencyKey"

    blank = (await caller.graphql(CREATE, {"data": data, "key": " "}))["createAction"]
    assert blank["errors"][0]["code"] == "INVALID" and blank["action"] is None

    # Many clients retrying at once with one key: one action.
    racing = f"key-{uuid.uuid4()}"
    payloads = await asyncio.gather(
        *(caller.graphql(CREATE, {"data": data, "key": racing}) for _ in range(10))
    )
    assert len({p["createAction"]["action"]["id"] for p in payloads}) == 1
    await caller.wait_for_status(first["action"]["id"], {"EXECUTED"})
    await caller.wait_for_status(payloads[0]["createAction"]["action"]["id"], {"EXECUTED"})
    notes = await caller.graphql(
        "query($id: ID!) { app(id: $id) { notes { text } } }", {"id": app_id}
    )
    assert [n["text"] for n in notes["app"]["notes"]] == ["once", "once"]


async def test_rest_honours_the_idempotency_key_header(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    body = {"type": "note_app", "data": {"app_id": app_id, "note_text": "once"}}
    keyed = {**caller.headers, "Idempotency-Key": f"rest-{uuid.uuid4()}"}
    first = await caller.rest("POST", "/actions", json=body, headers=keyed)
    again = await caller.rest("POST", "/actions", json=body, headers=keyed)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]

    other = {"type": "note_app", "data": {"app_id": app_id, "note_text": "twice"}}
    reused = await caller.rest("POST", "/actions", json=other, headers=keyed)
    assert reused.status_code == 422
    [error] = reused.json()["errors"]
    assert error["field"] == "Idempotency-Key" and error["code"] == "IDEMPOTENCY_KEY_REUSED"
    too_long = {**caller.headers, "Idempotency-Key": "k" * 256}
    refused = await caller.rest("POST", "/actions", json=body, headers=too_long)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
    listed = await caller.rest("GET", "/actions", params={"type": "note_app"})
    assert [a["id"] for a in listed.json()] == [first.json()["id"]]


async def test_an_idempotency_key_is_honoured_for_24_hours(
    caller: Caller, runtime: Runtime
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    company_id = int(caller.company_id)
    data = {"app_id": app_id, "note_text": "daily"}
    first = await actions.create_action(runtime, company_id, "note_app", data, idempotency_key="d")
    again = await actions.create_action(runtime, company_id, "note_app", data, idempotency_key="d")
    assert again.id == first.id
    async with runtime.sessions.begin() as session:
        await session.execute(
            update(Action)
            .where(col(Action.id) == first.id)
            .values(created_at=utcnow() - timedelta(hours=24, minutes=1))
        )
    later = await actions.create_action(runtime, company_id, "note_app", data, idempotency_key="d")
    assert later.id != first.id


def test_every_reference_to_an_action_survives_its_deletion() -> None:
    tables = {table.name for table, _ in action_references()}
    assert {"note", "tag", "dashboard_notification"} <= tables


async def test_finished_actions_past_retention_are_deleted_and_their_effects_kept(
    cluster: Cluster,
) -> None:
    worker = cluster.start_worker()
    caller = await cluster.company()
    company_id = int(caller.company_id)
    app_id = await cluster.app(company_id)
    ids = []
    for text in ("old", "older", "recent"):
        row = await actions.create_action(
            cluster.runtime, company_id, "note_app", {"app_id": app_id, "note_text": text}
        )
        assert row.id is not None
        ids.append(row.id)
    for action_id in ids:
        await cluster.wait_for_status(action_id, ActionStatus.EXECUTED)
    # Scheduled jobs run on whichever worker takes them, with its settings: this one keeps
    # actions for 30 days, so it must be gone before the one that purges starts.
    await cluster.stop(worker, "worker")
    old = utcnow() - timedelta(days=2)
    # Workflow events: processed long ago (purged), the same but the cause of a kept action,
    # never processed (kept: it is still to fire), processed just now.
    events = [
        WorkflowEvent(company_id=company_id, kind=TriggerEvent.APPLICANT_NEW, processed_at=at)
        for at in (old, old, None, utcnow())
    ]
    async with cluster.runtime.sessions.begin() as session:
        session.add_all(events)
        await session.flush()
        await session.execute(
            update(Action).where(col(Action.id).in_(ids[:2])).values(updated_at=old)
        )
        await session.execute(
            update(Action).where(col(Action.id) == ids[2]).values(event_id=events[1].id)
        )

    # A worker purges when it starts.
    cluster.start_worker("purging", ACTION_RETENTION_DAYS="1")
    await wait_for_log(cluster, "purging", "purged 2 finished actions and 1 workflow events")
    async with cluster.runtime.sessions() as session:
        left = (await session.scalars(select(col(Action.id)).where(col(Action.id).in_(ids)))).all()
        events_left = (
            await session.scalars(
                select(col(WorkflowEvent.id)).where(
                    col(WorkflowEvent.id).in_([e.id for e in events])
                )
            )
        ).all()
        notes = (
            await session.execute(
                select(col(Note.text), col(Note.action_id)).where(col(Note.app_id) == app_id)
            )
        ).all()
    assert list(left) == ids[2:]
    assert set(events_left) == {e.id for e in events[1:]}
    assert sorted(tuple(n) for n in notes) == [("old", None), ("older", None), ("recent", ids[2])]

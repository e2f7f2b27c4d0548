"""Triggers: actions that a real worker creates and runs when applications and jobs change."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from app.actions.trigger_events import MAX_TRIGGER_DEPTH
from app.models import TriggerEvent, WorkflowEvent
from app.runtime import Runtime
from app.services import firing, hiring
from app.services.triggers import MAX_TRIGGERS_PER_COMPANY
from app.services.workflow_events import record_event
from tests.cluster import eventually
from tests.support import Caller

CREATE = (
    "mutation($input: CreateTriggerInput!) { createTrigger(input: $input) "
    "{ trigger { id event actionType data jobId createdAt } errors { field message code } } }"
)
EVENTS = (
    "query { workflowEvents(first: 100) { id event appId jobId depth processedAt note "
    "actions { id triggerId type status data } } }"
)
ACTIONS = (
    "query { actions(first: 100) { edges { node { id triggerId type status data } } "
    "pageInfo { hasNextPage } } }"
)
FINAL = {"EXECUTED", "FAILED", "CANCELED"}


async def create_trigger(caller: Caller, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await caller.graphql(CREATE, {"input": fields}))["createTrigger"]
    return payload


async def new_trigger(caller: Caller, **fields: Any) -> dict[str, Any]:
    payload = await create_trigger(caller, **fields)
    assert payload["errors"] == [], payload
    trigger: dict[str, Any] = payload["trigger"]
    return trigger


async def events_of(caller: Caller) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = (await caller.graphql(EVENTS))["workflowEvents"]
    return events


async def actions_of(caller: Caller) -> list[dict[str, Any]]:
    page = (await caller.graphql(ACTIONS))["actions"]
    assert not page["pageInfo"]["hasNextPage"], "tests keep under a page of actions"
    return [edge["node"] for edge in page["edges"]]


async def settled(caller: Caller, events: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events and actions once `events` events exist and nothing is left to happen.

    Read events, then actions, then events again: if every event was processed at the first
    read and none appeared by the last, no action can be created after the actions read, and
    all those were final, so nothing will change any more.
    """

    async def check() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        before = await events_of(caller)
        if len(before) < events or any(e["processedAt"] is None for e in before):
            return None
        actions = await actions_of(caller)
        if any(a["status"] not in FINAL for a in actions):
            return None
        after = await events_of(caller)
        if [e["id"] for e in after] != [e["id"] for e in before]:
            return None
        return after, actions

    return await eventually(check, 60, f"{events} events to settle")


async def test_applicant_new_trigger_tags_every_new_application_exactly_once(
    caller: Caller,
) -> None:
    trigger = await new_trigger(
        caller, event="APPLICANT_NEW", actionType="tag_app", data={"tag_text": "new applicant"}
    )
    assert trigger["event"] == "APPLICANT_NEW" and trigger["jobId"] is None
    listed = (await caller.graphql("{ triggers { id actionType data } }"))["triggers"]
    assert listed == [{"id": trigger["id"], "actionType": "tag_app", "data": trigger["data"]}]

    job_id = await caller.create_job()
    async with caller.websocket() as ws:
        op = await ws.subscribe("subscription { actions { id triggerId status } }")
        first_app = await caller.create_app(job_id, "Ada")
        async for data in ws.results(op):
            change = data["actions"]
            assert change["triggerId"] == trigger["id"]
            if change["status"] == "EXECUTED":
                break
    apps = [first_app, await caller.create_app(job_id, "Grace"), await caller.create_app(job_id)]

    events, actions = await settled(caller, events=3)
    assert sorted(e["appId"] for e in events) == sorted(apps)
    assert all(e["event"] == "APPLICANT_NEW" and e["jobId"] == job_id for e in events)
    assert all(e["depth"] == 0 and e["note"] is None for e in events)
    assert sorted(a["data"]["app_id"] for a in actions) == sorted(int(a) for a in apps)
    assert {a["triggerId"] for a in actions} == {trigger["id"]}
    assert {a["status"] for a in actions} == {"EXECUTED"}
    for event in events:
        assert [a["data"] for a in event["actions"]] == [
            {"app_id": int(event["appId"]), "tag_text": "new applicant"}
        ]
    for app_id in apps:
        data = await caller.graphql("query($id: ID!) { app(id: $id) { tags } }", {"id": app_id})
        assert data["app"]["tags"] == ["new applicant"]


async def test_job_id_narrows_a_trigger_to_one_job(caller: Caller) -> None:
    watched, other = await caller.create_job("Watched"), await caller.create_job("Other")
    note = await new_trigger(
        caller,
        event="APPLICANT_NEW",
        actionType="note_app",
        data={"note_text": "applied to the watched job"},
        jobId=watched,
    )
    notify = await new_trigger(
        caller,
        event="JOB_STATUS_CHANGED",
        actionType="post_dashboard_notification",
        data={"message": "the watched job changed"},
        jobId=watched,
    )
    assert note["jobId"] == watched and notify["jobId"] == watched
    watched_app = await caller.create_app(watched)
    other_app = await caller.create_app(other)
    await caller.graphql(
        'mutation($j: ID!) { setJobStatus(input: {jobId: $j, status: "closed"}) { errors '
        "{ message } } }",
        {"j": other},
    )
    # A set_job_status action changes a job's status too, and so fires triggers.
    by_action = await caller.create_action(
        "set_job_status", {"job_id": int(watched), "status": "on_hold"}
    )
    assert by_action["errors"] == []
    # Setting the status it already has is no change, and no event.
    await caller.graphql(
        'mutation($j: ID!) { setJobStatus(input: {jobId: $j, status: "on_hold"}) { errors '
        "{ message } } }",
        {"j": watched},
    )

    events, actions = await settled(caller, events=4)
    assert Counter((e["event"], e["jobId"]) for e in events) == {
        ("APPLICANT_NEW", watched): 1,
        ("APPLICANT_NEW", other): 1,
        ("JOB_STATUS_CHANGED", other): 1,
        ("JOB_STATUS_CHANGED", watched): 1,
    }
    fired = sorted((a["triggerId"], a["type"], str(a["data"])) for a in actions if a["triggerId"])
    assert fired == sorted(
        [
            (
                note["id"],
                "note_app",
                str({"app_id": int(watched_app), "note_text": note["data"]["note_text"]}),
            ),
            (
                notify["id"],
                "post_dashboard_notification",
                str({"job_id": int(watched), "message": "the watched job changed"}),
            ),
        ]
    )
    assert {a["status"] for a in actions} == {"EXECUTED"}
    data = await caller.graphql(
        "query($a: ID!, $b: ID!) { a: app(id: $a) { notes { text } } b: app(id: $b) "
        "{ notes { text } } dashboardNotifications { message jobId } }",
        {"a": watched_app, "b": other_app},
    )
    assert data["a"]["notes"] == [{"text": "applied to the watched job"}]
    assert data["b"]["notes"] == []
    assert data["dashboardNotifications"] == [
        {"message": "the watched job changed", "jobId": watched}
    ]


async def test_triggers_that_could_never_fire_are_refused_and_nothing_is_stored(
    caller: Caller, other_caller: Caller
) -> None:
    foreign_job = await other_caller.create_job()
    not_supplied = await create_trigger(
        caller, event="JOB_STATUS_CHANGED", actionType="tag_app", data={"tag_text": "x"}
    )
    assert not_supplied == {
        "trigger": None,
        "errors": [
            {
                "field": "actionType",
                "message": "tag_app needs app_id, which JOB_STATUS_CHANGED events do not "
                "supply (they supply: job_id)",
                "code": "NOT_SUPPLIED",
            }
        ],
    }
    refused: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        (
            {"event": "APPLICANT_NEW", "actionType": "reject_app", "data": {}},
            [("actionType", "UNKNOWN_TYPE")],
        ),
        (
            {"event": "APPLICANT_NEW", "actionType": "tag_app", "data": {"app_id": 1}},
            [("data.app_id", "UNKNOWN_FIELD"), ("data.tag_text", "REQUIRED")],
        ),
        (
            {
                "event": "JOB_STATUS_CHANGED",
                "actionType": "note_app",
                "data": {"note_text": " "},
                "jobId": foreign_job,
            },
            [("data.note_text", "BLANK"), ("actionType", "NOT_SUPPLIED"), ("jobId", "NOT_FOUND")],
        ),
        (
            {
                "event": "JOB_STATUS_CHANGED",
                "actionType": "set_job_status",
                "data": {"status": "gone"},
            },
            [("data.status", "INVALID_CHOICE")],
        ),
        (
            {"event": "APPLICANT_NEW", "actionType": "tag_app", "data": [], "jobId": "x1"},
            [("jobId", "INVALID")],
        ),
        (
            {"event": "APPLICANT_NEW", "actionType": "tag_app", "data": []},
            [("data", "INVALID")],
        ),
    ]
    for fields, expected in refused:
        payload = await create_trigger(caller, **fields)
        assert payload["trigger"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == expected, payload
    assert (await caller.graphql("{ triggers { id } }"))["triggers"] == []


async def test_another_companys_trigger_is_not_found_and_never_fires_here(
    caller: Caller, other_caller: Caller
) -> None:
    theirs = await new_trigger(
        other_caller, event="APPLICANT_NEW", actionType="tag_app", data={"tag_text": "theirs"}
    )
    deleted = await caller.graphql(
        "mutation($id: ID!) { deleteTrigger(id: $id) { trigger { id } errors { field code } } }",
        {"id": theirs["id"]},
    )
    assert deleted["deleteTrigger"] == {
        "trigger": None,
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }
    assert (await caller.graphql("{ triggers { id } }"))["triggers"] == []
    await caller.create_app(await caller.create_job())
    events, actions = await settled(caller, events=1)
    assert events[0]["actions"] == [] and actions == []
    assert [t["id"] for t in (await other_caller.graphql("{ triggers { id } }"))["triggers"]] == [
        theirs["id"]
    ]


async def test_a_deleted_trigger_stops_firing_and_its_actions_keep_its_id(caller: Caller) -> None:
    trigger = await new_trigger(
        caller, event="APPLICANT_NEW", actionType="tag_app", data={"tag_text": "early"}
    )
    job_id = await caller.create_job()
    await caller.create_app(job_id)
    await settled(caller, events=1)
    delete = (
        "mutation($id: ID!) { deleteTrigger(id: $id) { trigger { id actionType } "
        "errors { field code } } }"
    )
    result = (await caller.graphql(delete, {"id": trigger["id"]}))["deleteTrigger"]
    assert result == {"trigger": {"id": trigger["id"], "actionType": "tag_app"}, "errors": []}
    again = (await caller.graphql(delete, {"id": trigger["id"]}))["deleteTrigger"]
    assert again["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert (await caller.graphql("{ triggers { id } }"))["triggers"] == []

    await caller.create_app(job_id)
    events, actions = await settled(caller, events=2)
    assert [len(e["actions"]) for e in events] == [0, 1]  # newest first
    assert [a["triggerId"] for a in actions] == [trigger["id"]]


async def test_a_loop_of_two_triggers_stops_at_the_depth_limit(caller: Caller) -> None:
    job_id = await caller.create_job()
    hold = await new_trigger(
        caller, event="JOB_STATUS_CHANGED", actionType="set_job_status", data={"status": "on_hold"}
    )
    reopen = await new_trigger(
        caller, event="JOB_STATUS_CHANGED", actionType="set_job_status", data={"status": "open"}
    )
    await caller.graphql(
        'mutation($j: ID!) { setJobStatus(input: {jobId: $j, status: "closed"}) '
        "{ errors { message } } }",
        {"j": job_id},
    )

    # Each status change fires both triggers, and one of the two always changes the status
    # again, so without the limit this would never end. The last change to happen has no
    # trigger after it, so it must be an event at the limit.
    events, actions = await settled(caller, events=MAX_TRIGGER_DEPTH + 1)
    depths = Counter(e["depth"] for e in events)
    assert max(depths) == MAX_TRIGGER_DEPTH, depths
    assert depths[0] == 1
    for event in events:
        fired = sorted(a["triggerId"] for a in event["actions"])
        if event["depth"] < MAX_TRIGGER_DEPTH:
            assert fired == sorted([hold["id"], reopen["id"]]) and event["note"] is None
        else:
            # The actions not created are named on the event, not silently dropped.
            assert fired == []
            assert f"trigger {hold['id']} (set_job_status) did not fire" in event["note"]
            assert f"trigger {reopen['id']} (set_job_status) did not fire" in event["note"]
            assert f"MAX_TRIGGER_DEPTH = {MAX_TRIGGER_DEPTH}" in event["note"]
    assert len(actions) == 2 * sum(n for depth, n in depths.items() if depth < MAX_TRIGGER_DEPTH)
    assert {a["status"] for a in actions} == {"EXECUTED"}


async def test_a_hundred_applications_at_once_get_a_hundred_tags(caller: Caller) -> None:
    trigger = await new_trigger(
        caller, event="APPLICANT_NEW", actionType="tag_app", data={"tag_text": "bulk"}
    )
    job_id = await caller.create_job()
    apps = await asyncio.gather(*(caller.create_app(job_id, f"Candidate {i}") for i in range(100)))
    assert len(set(apps)) == 100

    events, actions = await settled(
        caller,
        events=100,
    )
    assert len(events) == 100 and len(actions) == 100
    assert Counter(a["data"]["app_id"] for a in actions) == Counter(int(a) for a in apps)
    assert {(a["triggerId"], a["status"]) for a in actions} == {(trigger["id"], "EXECUTED")}
    query = "query($id: ID!) { app(id: $id) { tags } }"
    tags = await asyncio.gather(*(caller.graphql(query, {"id": app_id}) for app_id in apps))
    assert all(t["app"]["tags"] == ["bulk"] for t in tags)


async def test_an_event_delivered_many_times_fires_each_trigger_once(
    caller: Caller, runtime: Runtime
) -> None:
    company_id = int(caller.company_id)
    triggers = [
        await new_trigger(caller, event="APPLICANT_NEW", actionType="tag_app", data={"tag_text": t})
        for t in ("one", "two")
    ]
    job = await hiring.create_job(runtime, company_id, "Engineer")
    assert job.id is not None
    # The service queues the event for the worker; deliver it three more times at once.
    await hiring.create_app(runtime, company_id, job.id, "Ada")
    [event] = await firing.list_events(runtime, company_id, 1)
    assert event.id is not None
    deliveries = await asyncio.gather(*(firing.fire_event(runtime, event.id) for _ in range(3)))
    assert sum(d.processed for d in deliveries) <= 1

    _, actions = await settled(caller, events=1)
    assert sorted(a["triggerId"] for a in actions) == sorted(t["id"] for t in triggers)
    late = await firing.fire_event(runtime, event.id)
    assert not late.processed and late.actions == []
    assert len(await actions_of(caller)) == 2


async def test_an_event_that_was_never_queued_is_fired_by_the_sweeper(
    caller: Caller, runtime: Runtime
) -> None:
    await new_trigger(
        caller,
        event="JOB_STATUS_CHANGED",
        actionType="post_dashboard_notification",
        data={"message": "swept"},
    )
    company_id = int(caller.company_id)
    job = await hiring.create_job(runtime, company_id, "Engineer")
    assert job.id is not None
    # As if the process died between its commit and the enqueue: the row alone remains.
    async with runtime.sessions.begin() as session:
        event = await record_event(
            session, company_id, TriggerEvent.JOB_STATUS_CHANGED, job_id=job.id
        )
    assert isinstance(event, WorkflowEvent)
    _, actions = await settled(caller, events=1)
    assert [a["data"] for a in actions] == [{"job_id": job.id, "message": "swept"}]


async def test_a_company_has_at_most_max_triggers(caller: Caller) -> None:
    fields = {"event": "APPLICANT_NEW", "actionType": "tag_app", "data": {"tag_text": "t"}}
    # More than the bound, all at once: the count is taken under a lock, so none slips past.
    payloads = await asyncio.gather(
        *(create_trigger(caller, **fields) for _ in range(MAX_TRIGGERS_PER_COMPANY + 10))
    )
    made = [p["trigger"]["id"] for p in payloads if p["trigger"] is not None]
    refused = [p["errors"] for p in payloads if p["trigger"] is None]
    assert len(made) == MAX_TRIGGERS_PER_COMPANY
    assert (
        refused
        == [
            [
                {
                    "field": None,
                    "message": f"a company may have at most {MAX_TRIGGERS_PER_COMPANY} triggers; "
                    "delete one to make another",
                    "code": "LIMIT_REACHED",
                }
            ]
        ]
        * 10
    )
    assert len((await caller.graphql("{ triggers { id } }"))["triggers"]) == len(made)

    deleted = await caller.graphql(
        "mutation($id: ID!) { deleteTrigger(id: $id) { errors { code } } }", {"id": made[0]}
    )
    assert deleted["deleteTrigger"]["errors"] == []
    await new_trigger(caller, **fields)

"""Every query, mutation, subscription and REST route, called by a second company on the first
company's objects: "not found" or empty, never "forbidden", never their data, nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.events import channel, encode_action
from app.models import Action
from app.runtime import Runtime
from app.services.actions import encode_cursor
from app.services.api_keys import create_company
from tests.support import Caller

Owned = dict[str, str]


async def company(gateway: str, runtime: Runtime) -> Caller:
    row, key = await create_company(runtime.sessions, f"Tenant {uuid.uuid4().hex[:8]}")
    return Caller(gateway, str(row.id), key)


async def settled(caller: Caller, count: int) -> list[dict[str, Any]]:
    """The company's actions once `count` exist and none is still running."""
    deadline = time.monotonic() + 60
    while True:
        data = await caller.graphql("{ actions(first: 100) { edges { node { id status } } } }")
        nodes = [e["node"] for e in data["actions"]["edges"]]
        if len(nodes) == count and all(n["status"] == "EXECUTED" for n in nodes):
            return nodes
        assert time.monotonic() < deadline, nodes
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def owner(gateway: str, runtime: Runtime) -> Caller:
    return await company(gateway, runtime)


@pytest.fixture(scope="module")
async def stranger(gateway: str, runtime: Runtime) -> Caller:
    return await company(gateway, runtime)


@pytest.fixture(scope="module")
async def owned(owner: Caller) -> Owned:
    """One of everything the first company can have: job, trigger, app, event, actions, note."""
    job = await owner.create_job()
    trigger = await owner.graphql(
        "mutation($j: ID!) { createTrigger(input: {event: APPLICANT_NEW, actionType: "
        '"tag_app", data: {tag_text: "auto"}, jobId: $j}) { trigger { id } errors { code } } }',
        {"j": job},
    )
    app = await owner.create_app(job)  # fires the trigger: a workflow event and an action
    note = await owner.create_action(
        "post_dashboard_notification", {"message": "m", "app_id": int(app)}
    )
    actions = await settled(owner, 2)
    return {
        "job": job,
        "app": app,
        "trigger": trigger["createTrigger"]["trigger"]["id"],
        "action": note["action"]["id"],
        "actions": ",".join(a["id"] for a in actions),
    }


SNAPSHOT = (
    "query($a: ID!, $j: ID!) { app(id: $a) { tags notes { id } } job(id: $j) { status } "
    "triggers { id } dashboardNotifications { id } workflowEvents { id } "
    "actions(first: 100) { edges { node { id status data } } } }"
)


@pytest.fixture(scope="module")
async def before(owner: Caller, owned: Owned) -> dict[str, Any]:
    """What the first company sees of its own things; no call of the stranger may change it."""
    return await owner.graphql(SNAPSHOT, {"a": owned["app"], "j": owned["job"]})


async def rest(caller: Caller, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=caller.base_url, timeout=30) as client:
        return await client.request(method, f"/api/v1{path}", json=body, headers=caller.headers)


def payload_codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


Check = Callable[[Caller, Owned], Awaitable[None]]


async def q_action(s: Caller, o: Owned) -> None:
    assert await s.graphql("query($i: ID!) { action(id: $i) { id } }", {"i": o["action"]}) == {
        "action": None
    }


async def q_app(s: Caller, o: Owned) -> None:
    data = await s.graphql("query($i: ID!) { app(id: $i) { id tags } }", {"i": o["app"]})
    assert data == {"app": None}


async def q_job(s: Caller, o: Owned) -> None:
    assert await s.graphql("query($i: ID!) { job(id: $i) { id } }", {"i": o["job"]}) == {
        "job": None
    }


async def q_actions(s: Caller, o: Owned) -> None:
    for arguments in ("", "(status: EXECUTED)", '(type: "tag_app")'):
        data = await s.graphql(f"{{ actions{arguments} {{ edges {{ node {{ id }} }} }} }}")
        assert data == {"actions": {"edges": []}}
    # A cursor made from the first company's newest action pages through nothing of theirs.
    after = encode_cursor(max(int(i) for i in o["actions"].split(",")) + 1)
    data = await s.graphql(
        "query($c: String) { actions(after: $c) { edges { node { id } } } }", {"c": after}
    )
    assert data == {"actions": {"edges": []}}


async def q_notifications(s: Caller, o: Owned) -> None:
    assert await s.graphql("{ dashboardNotifications(first: 100) { id } }") == {
        "dashboardNotifications": []
    }


async def q_triggers(s: Caller, o: Owned) -> None:
    assert await s.graphql("{ triggers { id } }") == {"triggers": []}


async def q_workflow_events(s: Caller, o: Owned) -> None:
    data = await s.graphql("{ workflowEvents(first: 100) { id actions { id } } }")
    assert data == {"workflowEvents": []}


async def m_create_action(s: Caller, o: Owned) -> None:
    app, job = int(o["app"]), int(o["job"])
    for type_name, data in [
        ("tag_app", {"app_id": app, "tag_text": "theirs"}),
        ("note_app", {"app_id": app, "note_text": "theirs"}),
        ("set_job_status", {"job_id": job, "status": "closed"}),
        ("post_dashboard_notification", {"message": "m", "app_id": app}),
        ("post_dashboard_notification", {"message": "m", "job_id": job}),
    ]:
        payload = await s.create_action(type_name, data)
        assert payload["action"] is None and payload_codes(payload) == ["NOT_FOUND"], payload


async def m_typed_create_actions(s: Caller, o: Owned) -> None:
    """The typed createXAction mutations, one per action type."""
    app, job = o["app"], o["job"]
    for mutation, fields in [
        ("createTagAppAction", f'appId: "{app}", tagText: "theirs"'),
        ("createNoteAppAction", f'appId: "{app}", noteText: "theirs"'),
        ("createSetJobStatusAction", f'jobId: "{job}", status: CLOSED'),
        ("createPostDashboardNotificationAction", f'message: "m", appId: "{app}"'),
        ("createPostDashboardNotificationAction", f'message: "m", jobId: "{job}"'),
    ]:
        selection = "{ action { id } errors { code } }"
        data = await s.graphql(f"mutation {{ {mutation}(input: {{{fields}}}) {selection} }}")
        assert data[mutation] == {"action": None, "errors": [{"code": "NOT_FOUND"}]}, data


async def m_create_app(s: Caller, o: Owned) -> None:
    data = await s.graphql(
        'mutation($j: ID!) { createApp(input: {jobId: $j, candidateName: "X"}) '
        "{ app { id } errors { code } } }",
        {"j": o["job"]},
    )
    assert data["createApp"] == {"app": None, "errors": [{"code": "NOT_FOUND"}]}


async def m_set_job_status(s: Caller, o: Owned) -> None:
    data = await s.graphql(
        'mutation($j: ID!) { setJobStatus(input: {jobId: $j, status: "closed"}) '
        "{ job { id } errors { code } } }",
        {"j": o["job"]},
    )
    assert data["setJobStatus"] == {"job": None, "errors": [{"code": "NOT_FOUND"}]}


async def m_create_trigger(s: Caller, o: Owned) -> None:
    data = await s.graphql(
        "mutation($j: ID!) { createTrigger(input: {event: JOB_STATUS_CHANGED, actionType: "
        '"post_dashboard_notification", data: {message: "x"}, jobId: $j}) '
        "{ trigger { id } errors { code } } }",
        {"j": o["job"]},
    )
    assert data["createTrigger"] == {"trigger": None, "errors": [{"code": "NOT_FOUND"}]}


async def m_delete_trigger(s: Caller, o: Owned) -> None:
    data = await s.graphql(
        "mutation($i: ID!) { deleteTrigger(id: $i) { trigger { id } errors { code } } }",
        {"i": o["trigger"]},
    )
    assert data["deleteTrigger"] == {"trigger": None, "errors": [{"code": "NOT_FOUND"}]}


async def s_action(s: Caller, o: Owned) -> None:
    async with s.websocket() as socket:
        op = await socket.subscribe(
            "subscription($i: ID!) { action(id: $i) { id } }", {"i": o["action"]}
        )
        message = await socket.receive()
        assert message["id"] == op and message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
        assert "data" not in json.dumps(message["payload"]).replace('"data": null', "")


async def r_get_action(s: Caller, o: Owned) -> None:
    response = await rest(s, "GET", f"/actions/{o['action']}")
    assert response.status_code == 404 and payload_codes(response.json()) == ["NOT_FOUND"]


async def r_list_actions(s: Caller, o: Owned) -> None:
    for query in ("", "?status=executed", "?type=tag_app"):
        response = await rest(s, "GET", f"/actions{query}")
        assert response.status_code == 200 and response.json() == [], response.text


async def r_create_action(s: Caller, o: Owned) -> None:
    for body in (
        {"type": "tag_app", "data": {"app_id": int(o["app"]), "tag_text": "theirs"}},
        {"type": "set_job_status", "data": {"job_id": int(o["job"]), "status": "closed"}},
    ):
        response = await rest(s, "POST", "/actions", body)
        assert response.status_code == 422, response.text
        assert payload_codes(response.json()) == ["NOT_FOUND"]


async def r_list_triggers(s: Caller, o: Owned) -> None:
    response = await rest(s, "GET", "/triggers")
    assert response.status_code == 200 and response.json() == []


async def r_create_trigger(s: Caller, o: Owned) -> None:
    body = {
        "event": "job_status_changed",
        "action_type": "post_dashboard_notification",
        "data": {"message": "x"},
        "job_id": o["job"],
    }
    response = await rest(s, "POST", "/triggers", body)
    assert response.status_code in (404, 422), response.text
    assert payload_codes(response.json()) == ["NOT_FOUND"]


async def r_delete_trigger(s: Caller, o: Owned) -> None:
    response = await rest(s, "DELETE", f"/triggers/{o['trigger']}")
    assert response.status_code == 404 and payload_codes(response.json()) == ["NOT_FOUND"]


MATRIX: dict[str, Check] = {
    "query action": q_action,
    "query app": q_app,
    "query job": q_job,
    "query actions": q_actions,
    "query dashboardNotifications": q_notifications,
    "query triggers": q_triggers,
    "query workflowEvents": q_workflow_events,
    "mutation createAction": m_create_action,
    "mutation create<Type>Action": m_typed_create_actions,
    "mutation createApp": m_create_app,
    "mutation setJobStatus": m_set_job_status,
    "mutation createTrigger": m_create_trigger,
    "mutation deleteTrigger": m_delete_trigger,
    "subscription action": s_action,
    "GET /actions/{id}": r_get_action,
    "GET /actions": r_list_actions,
    "POST /actions": r_create_action,
    "GET /triggers": r_list_triggers,
    "POST /triggers": r_create_trigger,
    "DELETE /triggers/{id}": r_delete_trigger,
}


@pytest.mark.parametrize("surface", list(MATRIX))
async def test_another_company_s_things_are_not_found_and_unchanged(
    surface: str, owner: Caller, stranger: Caller, owned: Owned, before: dict[str, Any]
) -> None:
    await MATRIX[surface](stranger, owned)
    assert await owner.graphql(SNAPSHOT, {"a": owned["app"], "j": owned["job"]}) == before


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_the_actions_subscription_checks_every_event_s_company(
    caller: Caller, other_caller: Caller, runtime: Runtime, redis: Redis
) -> None:
    """An event of the first company's, even one that arrives on the stranger's channel, is
    not delivered: each event is checked, not only the subscription when it starts."""
    job = await caller.create_job()
    created = await caller.create_action("set_job_status", {"job_id": int(job), "status": "draft"})
    async with runtime.sessions() as session:
        theirs = await session.get(Action, int(created["action"]["id"]))
    assert theirs is not None
    async with other_caller.websocket() as socket:
        stream = await socket.subscribe("subscription { actions { id companyId data } }")
        mine = int(await other_caller.create_app(await other_caller.create_job()))
        # The first of its own events shows the subscription is listening.
        first = await other_caller.create_action("tag_app", {"app_id": mine, "tag_text": "1"})
        second = None
        async for data in socket.results(stream):
            if second is None:
                assert data["actions"]["id"] == first["action"]["id"]
                await redis.publish(channel(int(other_caller.company_id)), encode_action(theirs))
                await caller.create_action("set_job_status", {"job_id": int(job), "status": "open"})
                second = await other_caller.create_action(
                    "tag_app", {"app_id": mine, "tag_text": "2"}
                )
                continue
            # Only its own actions, each change of them in order, never the first company's.
            assert data["actions"]["companyId"] == other_caller.company_id, data
            if data["actions"]["id"] == second["action"]["id"]:
                break

"""The product's whole path: job, application, action, watched live, effect visible."""

from __future__ import annotations

import pytest

from tests.support import Caller

WATCH = "subscription($id: ID!) { action(id: $id) { id status executedAt attempts version } }"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_tag_app_action_is_watched_until_executed(caller: Caller, protocol: str) -> None:
    job_id = await caller.create_job()
    app_id = await caller.create_app(job_id)
    created = await caller.create_action(
        "tag_app", {"app_id": int(app_id), "tag_text": "Tagging an app via API!"}
    )
    assert created["errors"] == []
    action = created["action"]
    assert action["status"] == "PENDING" and action["typeName"] == "TagApp"

    async with caller.websocket(protocol) as ws:
        op = await ws.subscribe(WATCH, {"id": action["id"]})
        seen = [data["action"] async for data in ws.results(op)]

    statuses = [a["status"] for a in seen]
    assert statuses[-1] == "EXECUTED", statuses
    assert seen[-1]["executedAt"] is not None and seen[-1]["attempts"] == 1
    versions = [a["version"] for a in seen]
    assert versions == sorted(set(versions)), "each change once, in order"

    data = await caller.graphql("query($id: ID!) { app(id: $id) { tags } }", {"id": app_id})
    assert data["app"]["tags"] == ["Tagging an app via API!"]


async def test_subscription_to_a_finished_action_sends_its_state_and_completes(
    caller: Caller,
) -> None:
    app_id = await caller.create_app(await caller.create_job())
    action = (await caller.create_action("note_app", {"app_id": int(app_id), "note_text": "hi"}))[
        "action"
    ]
    await caller.wait_for_status(action["id"], {"EXECUTED"})
    async with caller.websocket() as ws:
        op = await ws.subscribe(WATCH, {"id": action["id"]})
        seen = [data["action"]["status"] async for data in ws.results(op)]
    assert seen == ["EXECUTED"]


async def test_each_action_type_executes_and_its_effect_is_visible(caller: Caller) -> None:
    job_id = await caller.create_job("Designer")
    app_id = int(await caller.create_app(job_id))
    requests = [
        ("tag_app", {"app_id": app_id, "tag_text": "shortlist"}),
        ("note_app", {"app_id": app_id, "note_text": "Great portfolio"}),
        ("set_job_status", {"job_id": int(job_id), "status": "on_hold"}),
        ("post_dashboard_notification", {"message": "Review Ada", "app_id": app_id}),
        ("post_dashboard_notification", {"message": "Plain message"}),
    ]
    ids = []
    for type_name, data in requests:
        payload = await caller.create_action(type_name, data)
        assert payload["errors"] == [], payload
        ids.append(payload["action"]["id"])
    for action_id in ids:
        done = await caller.wait_for_status(action_id, {"EXECUTED", "FAILED"})
        assert done["status"] == "EXECUTED", done

    data = await caller.graphql(
        "query($a: ID!, $j: ID!) { app(id: $a) { tags notes { text createdAt } } "
        "job(id: $j) { status } "
        "dashboardNotifications(first: 10) { message appId jobId } }",
        {"a": str(app_id), "j": job_id},
    )
    assert data["app"]["tags"] == ["shortlist"]
    assert [n["text"] for n in data["app"]["notes"]] == ["Great portfolio"]
    assert data["job"]["status"] == "on_hold"
    assert data["dashboardNotifications"] == [
        {"message": "Plain message", "appId": None, "jobId": None},
        {"message": "Review Ada", "appId": str(app_id), "jobId": None},
    ]


async def test_actions_subscription_streams_every_change_of_the_company(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    async with caller.websocket() as ws:
        op = await ws.subscribe("subscription { actions { id status } }")
        first = await caller.create_action("tag_app", {"app_id": app_id, "tag_text": "a"})
        second = await caller.create_action("tag_app", {"app_id": app_id, "tag_text": "b"})
        wanted = {first["action"]["id"], second["action"]["id"]}
        executed: set[str] = set()
        async for data in ws.results(op):
            change = data["actions"]
            assert change["id"] in wanted
            if change["status"] == "EXECUTED":
                executed.add(change["id"])
            if executed == wanted:
                break


async def test_actions_are_paginated_newest_first_and_filtered(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    ids = [
        (await caller.create_action("tag_app", {"app_id": app_id, "tag_text": f"t{i}"}))["action"][
            "id"
        ]
        for i in range(5)
    ]
    note = (await caller.create_action("note_app", {"app_id": app_id, "note_text": "n"}))["action"][
        "id"
    ]
    query = (
        "query($after: String, $type: String) { actions(first: 2, after: $after, type: $type) "
        "{ edges { cursor node { id type } } pageInfo { hasNextPage endCursor } } }"
    )
    seen: list[str] = []
    after = None
    while True:
        page = (await caller.graphql(query, {"after": after, "type": "tag_app"}))["actions"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids))
    assert note not in seen
    await caller.wait_for_status(note, {"EXECUTED"})
    done = await caller.graphql(
        '{ actions(status: EXECUTED, type: "note_app") { edges { node { id } } } }'
    )
    assert [e["node"]["id"] for e in done["actions"]["edges"]] == [note]


async def test_action_types_come_from_the_registry(caller: Caller) -> None:
    data = await caller.graphql(
        "{ actionTypes { name typeName description "
        "createAction { requiredData { name type allowedValues } "
        "optionalData { name type } } createTrigger { requiredData { name type } } } }"
    )
    types = {t["name"]: t for t in data["actionTypes"]}
    assert set(types) == {"tag_app", "note_app", "set_job_status", "post_dashboard_notification"}
    tag = types["tag_app"]
    assert tag["typeName"] == "TagApp"
    assert tag["createAction"]["requiredData"] == [
        {"name": "app_id", "type": "integer", "allowedValues": None},
        {"name": "tag_text", "type": "string", "allowedValues": None},
    ]
    assert tag["createTrigger"]["requiredData"] == [{"name": "tag_text", "type": "string"}]
    status = types["set_job_status"]["createAction"]["requiredData"][1]
    assert status["allowedValues"] == ["draft", "open", "on_hold", "closed"]
    assert types["post_dashboard_notification"]["createAction"]["optionalData"] == [
        {"name": "app_id", "type": "integer"},
        {"name": "job_id", "type": "integer"},
    ]

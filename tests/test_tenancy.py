"""Another company's key cannot read, change or watch anything of the first company's."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.support import Caller


@pytest.fixture
async def owned(caller: Caller) -> dict[str, str]:
    job_id = await caller.create_job()
    app_id = await caller.create_app(job_id)
    action = await caller.create_action("tag_app", {"app_id": int(app_id), "tag_text": "mine"})
    await caller.wait_for_status(action["action"]["id"], {"EXECUTED"})
    return {"job": job_id, "app": app_id, "action": action["action"]["id"]}


async def test_reads_of_another_company_are_not_found(
    owned: dict[str, str], other_caller: Caller
) -> None:
    data = await other_caller.graphql(
        "query($a: ID!, $p: ID!, $j: ID!) { action(id: $a) { id } app(id: $p) { id } "
        "job(id: $j) { id } actions { edges { node { id } } } "
        "dashboardNotifications { id } }",
        {"a": owned["action"], "p": owned["app"], "j": owned["job"]},
    )
    assert data == {
        "action": None,
        "app": None,
        "job": None,
        "actions": {"edges": []},
        "dashboardNotifications": [],
    }


async def test_writes_on_another_company_are_refused_and_change_nothing(
    caller: Caller, owned: dict[str, str], other_caller: Caller
) -> None:
    app_id, job_id = int(owned["app"]), int(owned["job"])
    for type_name, data in [
        ("tag_app", {"app_id": app_id, "tag_text": "theirs"}),
        ("note_app", {"app_id": app_id, "note_text": "theirs"}),
        ("set_job_status", {"job_id": job_id, "status": "closed"}),
        ("post_dashboard_notification", {"message": "m", "app_id": app_id}),
    ]:
        payload = await other_caller.create_action(type_name, data)
        assert payload["action"] is None
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    app = await other_caller.graphql(
        'mutation($j: ID!) { createApp(input: {jobId: $j, candidateName: "X"}) '
        "{ app { id } errors { code } } "
        'setJobStatus(input: {jobId: $j, status: "closed"}) { job { id } errors { code } } }',
        {"j": owned["job"]},
    )
    assert app["createApp"] == {"app": None, "errors": [{"code": "NOT_FOUND"}]}
    assert app["setJobStatus"] == {"job": None, "errors": [{"code": "NOT_FOUND"}]}

    mine = await caller.graphql(
        "query($p: ID!, $j: ID!) { app(id: $p) { tags notes { id } } job(id: $j) { status } }",
        {"p": owned["app"], "j": owned["job"]},
    )
    assert mine == {"app": {"tags": ["mine"], "notes": []}, "job": {"status": "open"}}


async def test_subscriptions_never_carry_another_company_s_events(
    caller: Caller, owned: dict[str, str], other_caller: Caller
) -> None:
    async with other_caller.websocket() as ws:
        op = await ws.subscribe(
            "subscription($id: ID!) { action(id: $id) { id } }", {"id": owned["action"]}
        )
        message = await ws.receive()
        # Strawberry reports an error raised by the resolver as a result with errors.
        assert message["id"] == op and message["type"] in ("error", "next")
        assert "not found" in json.dumps(message["payload"])
        assert "tag" not in json.dumps(message["payload"])

        stream = await ws.subscribe("subscription { actions { id } }")
        # Their own action arrives; ours, created meanwhile, must not.
        await caller.create_action("tag_app", {"app_id": int(owned["app"]), "tag_text": "x"})
        theirs = int(await other_caller.create_app(await other_caller.create_job()))
        created = await other_caller.create_action("tag_app", {"app_id": theirs, "tag_text": "y"})
        async for data in ws.results(stream):
            assert data["actions"]["id"] == created["action"]["id"]
            break


async def test_http_without_a_valid_key_is_401(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        for headers in ({}, {"Authorization": "Bearer agw_wrong"}, {"Authorization": "Basic x"}):
            response = await client.post(
                "/graphql", json={"query": "{ actionTypes { name } }"}, headers=headers
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_websocket_without_a_valid_key_is_closed(gateway: str, protocol: str) -> None:
    url = gateway.replace("http://", "ws://") + "/graphql"
    for payload in ({}, {"Authorization": "Bearer agw_wrong"}):
        async with websockets.connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                async with asyncio.timeout(10):
                    while True:
                        message = json.loads(await ws.recv())
                        assert message["type"] in ("connection_error", "ka"), message
            except websockets.ConnectionClosed as closed:
                if protocol == "graphql-transport-ws":
                    assert closed.rcvd is not None and closed.rcvd.code == 4403

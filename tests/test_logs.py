"""Request ids and structured logs: one id from the caller's request to the worker's lines."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import ALLOWED_ORIGIN, Caller, wait_until

QUERY = "{ actionTypes { name } }"


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be a JSON object."""
    entries = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


async def test_request_id_is_echoed_or_made(caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=caller.base_url, headers=caller.headers) as client:
        given = await client.post(
            "/graphql", json={"query": QUERY}, headers={"X-Request-ID": "abc-123"}
        )
        made = await client.post("/graphql", json={"query": QUERY})
        unfit = await client.post(
            "/graphql", json={"query": QUERY}, headers={"X-Request-ID": "two words"}
        )
        too_long = await client.post(
            "/graphql", json={"query": QUERY}, headers={"X-Request-ID": "x" * 129}
        )
    assert given.headers["x-request-id"] == "abc-123"
    for response in (made, unfit, too_long):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_the_worker_logs_an_action_under_the_request_that_created_it(
    caller: Caller, artifacts: Path
) -> None:
    request_id = f"test-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=caller.base_url, headers=caller.headers) as client:
        response = await client.post(
            "/graphql",
            headers={"X-Request-ID": request_id},
            json={
                "query": "mutation($data: JSON!) { createAction(input: "
                '{type: "post_dashboard_notification", data: $data}) { action { id } } }',
                "variables": {"data": {"message": "traced"}},
            },
        )
    action_id = int(response.json()["data"]["createAction"]["action"]["id"])
    await caller.wait_for_status(str(action_id), {"EXECUTED"})

    def lines_for(log: str) -> list[dict[str, Any]]:
        return [e for e in json_lines(artifacts / log) if e.get("request_id") == request_id]

    async def worker_logged_it() -> bool:
        return any("executed" in e["message"] for e in lines_for("worker.log"))

    await wait_until(worker_logged_it, "the worker's line for the action")
    worker = lines_for("worker.log")
    assert {e["action_id"] for e in worker} == {action_id}
    executed = next(e for e in worker if "executed" in e["message"])
    assert executed["level"] == "info" and executed["logger"] == "app.services.execution"
    assert executed["action_type"] == "post_dashboard_notification"
    assert executed["status"] == "EXECUTED" and executed["attempts"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", executed["time"])

    gateway = lines_for("gateway.log")
    assert any(
        e["message"] == f"action {action_id} created (post_dashboard_notification)" for e in gateway
    )
    access = [e for e in gateway if e["logger"] == "uvicorn.access"]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [("POST", "/graphql", 200)]


async def test_actions_a_trigger_creates_carry_the_request_that_set_it_off(
    caller: Caller, artifacts: Path
) -> None:
    created = await caller.graphql(
        "mutation($input: CreateTriggerInput!) { createTrigger(input: $input) "
        "{ trigger { id } errors { message } } }",
        {
            "input": {
                "event": "APPLICANT_NEW",
                "actionType": "note_app",
                "data": {"note_text": "new applicant"},
            }
        },
    )
    assert created["createTrigger"]["errors"] == []
    job_id = await caller.create_job()
    request_id = f"test-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=caller.base_url, headers=caller.headers) as client:
        response = await client.post(
            "/graphql",
            headers={"X-Request-ID": request_id},
            json={
                "query": "mutation($j: ID!) { createApp(input: {jobId: $j, "
                'candidateName: "Grace Hopper"}) { app { id } } }',
                "variables": {"j": job_id},
            },
        )
    assert response.status_code == 200

    def executed_lines() -> list[dict[str, Any]]:
        return [
            e
            for e in json_lines(artifacts / "worker.log")
            if e.get("request_id") == request_id and "executed" in e["message"]
        ]

    async def fired_and_ran() -> bool:
        return bool(executed_lines())

    # The event is fired by a worker, which creates the action; a worker runs it.
    await wait_until(fired_and_ran, "the triggered action's line")
    assert [e["action_type"] for e in executed_lines()] == ["note_app"]


async def test_a_page_on_an_allowed_origin_may_send_and_read_the_request_id(
    caller: Caller,
) -> None:
    async with httpx.AsyncClient(base_url=caller.base_url) as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
            },
        )
        response = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={**caller.headers, "Origin": ALLOWED_ORIGIN, "X-Request-ID": "from-a-page"},
        )
    assert preflight.status_code == 200
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["x-request-id"], "a preflight is answered under an id too"
    assert response.headers["x-request-id"] == "from-a-page"
    assert response.headers["access-control-expose-headers"].lower() == "x-request-id"

"""Triggers over REST, in the vendor's shapes: the events catalogue and /triggers."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support import Caller
from tests.test_triggers import settled

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def client(caller: Caller, authorised: bool = True) -> httpx.AsyncClient:
    headers = caller.headers if authorised else {}
    return httpx.AsyncClient(base_url=f"{caller.base_url}/api/v1", headers=headers, timeout=30)


async def test_the_events_catalogue_names_what_each_event_supplies_and_can_fire(
    caller: Caller,
) -> None:
    async with client(caller) as api:
        everything = (await api.get("/workflow/events")).json()
        for_tags = (await api.get("/workflow/events", params={"action_type": "tag_app"})).json()
        for_status = await api.get("/workflow/events", params={"action_type": "set_job_status"})
        unknown = await api.get("/workflow/events", params={"action_type": "reject_app"})
    assert everything == [
        {
            "applicant_new": {
                "description": "An application was created.",
                "supplied_data": {"app_id": {"type": "integer"}, "job_id": {"type": "integer"}},
                "action_types": [
                    "note_app",
                    "post_dashboard_notification",
                    "set_job_status",
                    "tag_app",
                ],
            }
        },
        {
            "job_status_changed": {
                "description": "A job's status changed (setJobStatus, or a set_job_status action).",
                "supplied_data": {"job_id": {"type": "integer"}},
                "action_types": ["post_dashboard_notification", "set_job_status"],
            }
        },
    ]
    assert [next(iter(entry)) for entry in for_tags] == ["applicant_new"]
    assert [next(iter(entry)) for entry in for_status.json()] == [
        "applicant_new",
        "job_status_changed",
    ]
    assert unknown.status_code == 422
    assert [(e["field"], e["code"]) for e in unknown.json()["errors"]] == [
        ("action_type", "UNKNOWN_TYPE")
    ]


async def test_a_trigger_made_over_rest_fires_and_is_deleted(caller: Caller) -> None:
    job_id = await caller.create_job()
    body = {
        "event": "applicant_new",
        "action_type": "tag_app",
        "data": {"tag_text": "via REST"},
        "job_id": None,
    }
    async with client(caller) as api:
        created = await api.post("/triggers", json=body)
        assert created.status_code == 201, created.text
        record: dict[str, Any] = created.json()
        assert set(record) == {
            "id",
            "company_id",
            "event",
            "action_type",
            "data",
            "job_id",
            "created_at",
        }
        assert record["company_id"] == caller.company_id and isinstance(record["id"], str)
        assert {k: record[k] for k in body} == body
        assert TIMESTAMP.match(record["created_at"])
        narrowed = await api.post("/triggers", json={**body, "job_id": int(job_id)})
        assert narrowed.status_code == 201 and narrowed.json()["job_id"] == job_id
        listed = (await api.get("/triggers")).json()
        assert [t["id"] for t in listed] == [record["id"], narrowed.json()["id"]]

        app_id = await caller.create_app(job_id)
        _, actions = await settled(caller, events=1)
        assert sorted(a["triggerId"] for a in actions) == sorted(t["id"] for t in listed)
        assert {a["data"]["app_id"] for a in actions} == {int(app_id)}

        assert (await api.delete(f"/triggers/{record['id']}")).status_code == 204
        assert [t["id"] for t in (await api.get("/triggers")).json()] == [narrowed.json()["id"]]
        gone = await api.delete(f"/triggers/{record['id']}")
        assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NOT_FOUND"
        assert (await api.delete("/triggers/not-an-id")).status_code == 404


async def test_refused_triggers_over_rest(caller: Caller, other_caller: Caller) -> None:
    foreign_job = await other_caller.create_job()
    async with client(other_caller) as theirs:
        foreign = (
            await theirs.post(
                "/triggers",
                json={
                    "event": "applicant_new",
                    "action_type": "tag_app",
                    "data": {"tag_text": "x"},
                },
            )
        ).json()
    cases: list[tuple[Any, list[tuple[str, str]]]] = [
        (
            {"event": "job_status_changed", "action_type": "tag_app", "data": {"tag_text": "x"}},
            [("action_type", "NOT_SUPPLIED")],
        ),
        (
            {"event": "job_opened", "action_type": 5, "data": {}, "job_id": "x", "extra": 1},
            [
                ("extra", "UNKNOWN_FIELD"),
                ("event", "INVALID_CHOICE"),
                ("action_type", "INVALID_TYPE"),
                ("job_id", "INVALID_TYPE"),
            ],
        ),
        ({}, [("event", "REQUIRED"), ("action_type", "REQUIRED"), ("data", "REQUIRED")]),
        (
            {
                "event": "applicant_new",
                "action_type": "note_app",
                "data": {"note_text": ""},
                "job_id": int(foreign_job),
            },
            [("data.note_text", "BLANK"), ("job_id", "NOT_FOUND")],
        ),
        (
            {"event": "applicant_new", "action_type": "reject_app", "data": {}},
            [("action_type", "UNKNOWN_TYPE")],
        ),
    ]
    async with client(caller) as api:
        for body, expected in cases:
            response = await api.post("/triggers", json=body)
            assert response.status_code == 422, response.text
            assert [(e["field"], e["code"]) for e in response.json()["errors"]] == expected
        not_object = await api.post("/triggers", json=["applicant_new"])
        assert not_object.status_code == 400
        assert (await api.delete(f"/triggers/{foreign['id']}")).status_code == 404
        assert (await api.get("/triggers")).json() == []
    async with client(caller, authorised=False) as anonymous:
        assert (await anonymous.get("/triggers")).status_code == 401
        assert (await anonymous.get("/workflow/events")).status_code == 401
        assert (await anonymous.post("/triggers", json={})).status_code == 401

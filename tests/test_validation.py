"""Data is checked at creation: every refusal of the contract, named by key, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Caller

LONG = "x" * 1001


async def stored_actions(caller: Caller) -> int:
    data = await caller.graphql("{ actions(first: 100) { edges { node { id } } } }")
    return len(data["actions"]["edges"])


@pytest.fixture
async def ids(caller: Caller) -> dict[str, int]:
    job_id = await caller.create_job()
    app_id = await caller.create_app(job_id)
    return {"app": int(app_id), "job": int(job_id)}


def refusals(ids: dict[str, int]) -> list[tuple[str, Any, list[tuple[str, str]]]]:
    """(type, data, [(field, code), ...]) for every refusal the contract lists, per type."""
    app, job = ids["app"], ids["job"]
    return [
        ("no_such_type", {}, [("type", "UNKNOWN_TYPE")]),
        ("tag_app", [], [("data", "INVALID")]),
        ("tag_app", "app_id=1", [("data", "INVALID")]),
        ("tag_app", {"tag_text": "x"}, [("data.app_id", "REQUIRED")]),
        ("tag_app", {"app_id": app}, [("data.tag_text", "REQUIRED")]),
        (
            "tag_app",
            {"app_id": app, "tag_text": "x", "color": "red"},
            [("data.color", "UNKNOWN_FIELD")],
        ),
        ("tag_app", {"app_id": "5", "tag_text": "x"}, [("data.app_id", "INVALID_TYPE")]),
        ("tag_app", {"app_id": True, "tag_text": "x"}, [("data.app_id", "INVALID_TYPE")]),
        ("tag_app", {"app_id": 1.5, "tag_text": "x"}, [("data.app_id", "INVALID_TYPE")]),
        ("tag_app", {"app_id": None, "tag_text": "x"}, [("data.app_id", "INVALID_TYPE")]),
        ("tag_app", {"app_id": app, "tag_text": 5}, [("data.tag_text", "INVALID_TYPE")]),
        ("tag_app", {"app_id": app, "tag_text": ""}, [("data.tag_text", "BLANK")]),
        ("tag_app", {"app_id": app, "tag_text": "   "}, [("data.tag_text", "BLANK")]),
        ("tag_app", {"app_id": app, "tag_text": LONG}, [("data.tag_text", "TOO_LONG")]),
        ("tag_app", {"app_id": 0, "tag_text": "x"}, [("data.app_id", "OUT_OF_RANGE")]),
        ("tag_app", {"app_id": 2**70, "tag_text": "x"}, [("data.app_id", "OUT_OF_RANGE")]),
        ("tag_app", {"app_id": app + 10**6, "tag_text": "x"}, [("data.app_id", "NOT_FOUND")]),
        ("note_app", {"app_id": app}, [("data.note_text", "REQUIRED")]),
        ("note_app", {"app_id": app, "note_text": LONG}, [("data.note_text", "TOO_LONG")]),
        ("note_app", {"app_id": app + 10**6, "note_text": "n"}, [("data.app_id", "NOT_FOUND")]),
        ("note_app", {"app_id": app, "note_text": "a\x00b"}, [("data.note_text", "INVALID")]),
        (
            "set_job_status",
            {"job_id": job, "status": "archived"},
            [("data.status", "INVALID_CHOICE")],
        ),
        ("set_job_status", {"job_id": job, "status": "OPEN"}, [("data.status", "INVALID_CHOICE")]),
        (
            "set_job_status",
            {"job_id": str(job), "status": "open"},
            [("data.job_id", "INVALID_TYPE")],
        ),
        (
            "set_job_status",
            {"job_id": job + 10**6, "status": "open"},
            [("data.job_id", "NOT_FOUND")],
        ),
        ("set_job_status", {"status": "open"}, [("data.job_id", "REQUIRED")]),
        ("post_dashboard_notification", {}, [("data.message", "REQUIRED")]),
        ("post_dashboard_notification", {"message": ""}, [("data.message", "BLANK")]),
        (
            "post_dashboard_notification",
            {"message": "m", "app_id": "1"},
            [("data.app_id", "INVALID_TYPE")],
        ),
        (
            "post_dashboard_notification",
            {"message": "m", "job_id": job + 10**6},
            [("data.job_id", "NOT_FOUND")],
        ),
        (
            "post_dashboard_notification",
            {"message": "m", "extra": 1},
            [("data.extra", "UNKNOWN_FIELD")],
        ),
        # Every problem at once, in a stable order: unknown keys, missing keys, bad values.
        (
            "tag_app",
            {"app_id": "1", "tag_text": "", "x": 1, "y": 2},
            [
                ("data.x", "UNKNOWN_FIELD"),
                ("data.y", "UNKNOWN_FIELD"),
                ("data.app_id", "INVALID_TYPE"),
                ("data.tag_text", "BLANK"),
            ],
        ),
    ]


async def test_every_refusal_names_the_key_and_stores_nothing(
    caller: Caller, ids: dict[str, int]
) -> None:
    for type_name, data, expected in refusals(ids):
        payload = await caller.create_action(type_name, data)
        assert payload["action"] is None, (type_name, data)
        got = [(e["field"], e["code"]) for e in payload["errors"]]
        assert got == expected, (type_name, data, payload["errors"])
        for error in payload["errors"]:
            key = error["field"].removeprefix("data.")
            assert key in error["message"] or error["field"] in ("type", "data"), error
    assert await stored_actions(caller) == 0


async def test_unknown_type_lists_the_known_ones(caller: Caller) -> None:
    payload = await caller.create_action("tag_ap", {"app_id": 1, "tag_text": "x"})
    assert "tag_app" in payload["errors"][0]["message"]


async def test_ids_of_another_company_are_not_found(caller: Caller, other_caller: Caller) -> None:
    theirs = int(await other_caller.create_app(await other_caller.create_job()))
    payload = await caller.create_action("tag_app", {"app_id": theirs, "tag_text": "x"})
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("data.app_id", "NOT_FOUND")]
    assert await stored_actions(caller) == 0


async def test_optional_keys_may_be_omitted_or_null(caller: Caller, ids: dict[str, int]) -> None:
    payload = await caller.create_action(
        "post_dashboard_notification", {"message": "m", "app_id": None, "job_id": ids["job"]}
    )
    assert payload["errors"] == []
    assert payload["action"]["data"] == {"message": "m", "job_id": ids["job"]}


async def test_jobs_and_apps_are_validated_too(caller: Caller) -> None:
    bad_job = await caller.graphql(
        'mutation { createJob(input: {title: "", status: "paused"}) '
        "{ job { id } errors { field code } } }"
    )
    assert bad_job["createJob"] == {
        "job": None,
        "errors": [
            {"field": "title", "code": "BLANK"},
            {"field": "status", "code": "INVALID_CHOICE"},
        ],
    }
    bad_app = await caller.graphql(
        'mutation { createApp(input: {jobId: "abc", candidateName: "A"}) '
        "{ app { id } errors { field code } } }"
    )
    assert bad_app["createApp"] == {"app": None, "errors": [{"field": "jobId", "code": "INVALID"}]}
    missing = await caller.graphql(
        'mutation { setJobStatus(input: {jobId: "999999999", status: "open"}) '
        "{ job { id } errors { field code } } }"
    )
    assert missing["setJobStatus"] == {
        "job": None,
        "errors": [{"field": "jobId", "code": "NOT_FOUND"}],
    }


async def test_page_size_is_bounded(caller: Caller) -> None:
    body = await caller.graphql_raw("{ actions(first: 101) { edges { cursor } } }")
    assert body["errors"][0]["extensions"]["code"] == "OUT_OF_RANGE"
    body = await caller.graphql_raw('{ actions(after: "garbage") { edges { cursor } } }')
    assert body["errors"][0]["extensions"]["code"] == "INVALID"

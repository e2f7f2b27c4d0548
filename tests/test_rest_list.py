"""`GET /api/v1/actions`: newest first, page by page along Link, filtered by status and type."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from tests.support import Caller

NEXT = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


async def make_actions(caller: Caller) -> tuple[list[str], str]:
    """Five tag_app actions (oldest first) and one note_app, all on one new application."""
    app_id = int(await caller.create_app(await caller.create_job()))
    tags = []
    for i in range(5):
        response = await caller.rest(
            "POST",
            "/actions",
            json={"type": "tag_app", "data": {"app_id": app_id, "tag_text": f"t{i}"}},
        )
        tags.append(response.json()["id"])
    note = await caller.rest(
        "POST", "/actions", json={"type": "note_app", "data": {"app_id": app_id, "note_text": "n"}}
    )
    return tags, note.json()["id"]


async def follow(caller: Caller, query: str) -> tuple[list[str], int]:
    """Every id, page by page along the Link headers, and how many pages there were."""
    ids: list[str] = []
    pages = 0
    response = await caller.rest("GET", f"/actions?{query}")
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        ids += [record["id"] for record in response.json()]
        link = response.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in response.headers
            return ids, pages
        match = NEXT.match(link)
        assert match is not None, link
        assert httpx.URL(match["url"]).params["cursor"] == response.headers["x-next-cursor"]
        async with httpx.AsyncClient(headers=caller.headers, timeout=30) as client:
            response = await client.get(match["url"])


@pytest.mark.parametrize("type_label", ["tag_app", "TagApp"])
async def test_pages_are_newest_first_and_linked(caller: Caller, type_label: str) -> None:
    tags, note = await make_actions(caller)
    ids, pages = await follow(caller, f"per_page=2&type={type_label}")
    assert ids == list(reversed(tags)) and note not in ids
    assert pages == 3


async def test_the_default_page_holds_every_action_of_the_company_only(
    caller: Caller, other_caller: Caller
) -> None:
    await other_caller.rest(
        "POST", "/actions", json={"type": "post_dashboard_notification", "data": {"message": "x"}}
    )
    tags, note = await make_actions(caller)
    response = await caller.rest("GET", "/actions")
    records = response.json()
    assert [r["id"] for r in records] == [note, *reversed(tags)]
    assert {r["company_id"] for r in records} == {caller.company_id}
    assert "link" not in response.headers


async def test_a_cursor_goes_on_where_the_last_page_ended(caller: Caller) -> None:
    tags, note = await make_actions(caller)
    first = await caller.rest("GET", "/actions?per_page=3")
    assert [r["id"] for r in first.json()] == [note, tags[4], tags[3]]
    cursor = first.headers["x-next-cursor"]
    rest = await caller.rest("GET", f"/actions?cursor={cursor}&per_page=100")
    assert [r["id"] for r in rest.json()] == [tags[2], tags[1], tags[0]]


async def test_status_filters_in_any_case(caller: Caller) -> None:
    tags, note = await make_actions(caller)
    for action_id in [*tags, note]:
        await caller.wait_for_status(action_id, {"EXECUTED"})
    executed = await caller.rest("GET", "/actions?status=executed&type=note_app")
    assert [(r["id"], r["status"]) for r in executed.json()] == [(note, "EXECUTED")]
    assert executed.json()[0]["executed_at"] is not None
    assert (await caller.rest("GET", "/actions?status=PENDING")).json() == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "per_page=ten",
            [("per_page", "INVALID_TYPE", "per_page must be an integer (got 'ten')")],
        ),
        (
            "per_page=101",
            [("per_page", "OUT_OF_RANGE", "per_page must be between 0 and 100")],
        ),
        (
            "status=done",
            [
                (
                    "status",
                    "INVALID_CHOICE",
                    "status must be one of: PENDING, RUNNING, EXECUTED, FAILED, CANCELED "
                    "(got 'done')",
                )
            ],
        ),
        (
            "type=tag",
            [
                (
                    "type",
                    "UNKNOWN_TYPE",
                    "unknown action type 'tag' (known: note_app, post_dashboard_notification, "
                    "set_job_status, tag_app)",
                )
            ],
        ),
        (
            "cursor=bm90LWEtY3Vyc29y",
            [("cursor", "INVALID", "cursor is not a cursor this API gave out")],
        ),
        (
            # An id past any the database can hold is no cursor either.
            "cursor=YWN0aW9uOjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
            [("cursor", "INVALID", "cursor is not a cursor this API gave out")],
        ),
        (
            # Too many digits for Python to read as a number: still just no cursor.
            "cursor=" + base64.urlsafe_b64encode(b"action:" + b"9" * 5000).decode(),
            [("cursor", "INVALID", "cursor is not a cursor this API gave out")],
        ),
        (
            "page=2",
            [
                (
                    "page",
                    "UNKNOWN_FIELD",
                    "unknown parameter 'page' (allowed: cursor, per_page, status, type)",
                )
            ],
        ),
        ("status=PENDING&status=FAILED", [("status", "INVALID", "status must be given once")]),
        ("type=", [("type", "BLANK", "type must not be empty (leave it out instead)")]),
        (
            "per_page=500&status=done&cursor=x",
            [
                ("status", "INVALID_CHOICE", None),
                ("per_page", "OUT_OF_RANGE", None),
                ("cursor", "INVALID", None),
            ],
        ),
    ],
)
async def test_bad_parameters_are_refused_naming_each(
    caller: Caller, query: str, expected: list[tuple[str, str, str | None]]
) -> None:
    response = await caller.rest("GET", f"/actions?{query}")
    assert response.status_code == 422, response.text
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(f, c) for f, c, _ in expected]
    for error, (_, _, message) in zip(errors, expected, strict=True):
        assert message is None or error["message"] == message

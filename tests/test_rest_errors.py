"""Every malformed REST request: its status, a message a person can act on, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.rest.common import MAX_BODY_BYTES
from app.runtime import Runtime
from tests.support import Caller, stored_actions

CREATE_ACTION_ERRORS = (
    "mutation($type: String!, $data: JSON!) { createAction(input: {type: $type, data: $data}) "
    "{ action { id } errors { field message code } } }"
)

# Every route, as (method, path): each needs a key.
ROUTES = [
    ("GET", "/workflow/actions"),
    ("GET", "/actions"),
    ("POST", "/actions"),
    ("GET", "/actions/1"),
    ("GET", "/openapi.json"),
]


def errors(response: Any) -> list[dict[str, Any]]:
    body: dict[str, Any] = response.json()
    assert list(body) == ["errors"], body
    listed: list[dict[str, Any]] = body["errors"]
    return listed


def only_error(response: Any) -> dict[str, Any]:
    [error] = errors(response)
    return error


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_an_api_key(caller: Caller, method: str, path: str) -> None:
    response = await caller.rest(method, path, headers={}, json={"type": "tag_app", "data": {}})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="actions-gateway"'
    error = only_error(response)
    assert error["code"] == "UNAUTHENTICATED"
    assert "Authorization: Bearer <api key>" in error["message"]


@pytest.mark.parametrize(
    ("authorization", "challenge_error", "says"),
    [
        ("Bearer agw_not-a-key", "invalid_token", "not valid"),
        ("Basic dXNlcjpwYXNz", "invalid_request", "must be Bearer <api key>"),
        ("Bearer", "invalid_request", "must be Bearer <api key>"),
    ],
)
async def test_a_wrong_key_is_told_apart_from_a_missing_one(
    caller: Caller, runtime: Runtime, authorization: str, challenge_error: str, says: str
) -> None:
    response = await caller.rest(
        "POST",
        "/actions",
        headers={"Authorization": authorization},
        json={"type": "post_dashboard_notification", "data": {"message": "hi"}},
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge == f'Bearer realm="actions-gateway", error="{challenge_error}"'
    assert says in only_error(response)["message"]
    assert await stored_actions(runtime, caller.company_id) == 0


async def test_another_companys_action_is_not_found(caller: Caller, other_caller: Caller) -> None:
    theirs = await other_caller.rest(
        "POST", "/actions", json={"type": "post_dashboard_notification", "data": {"message": "x"}}
    )
    assert theirs.status_code == 201
    their_id = theirs.json()["id"]
    response = await caller.rest("GET", f"/actions/{their_id}")
    assert response.status_code == 404
    assert only_error(response) == {
        "field": None,
        "message": f"action {their_id} not found",
        "code": "NOT_FOUND",
    }
    # The same answer as for an id that no company has.
    missing = await caller.rest("GET", "/actions/999999999")
    assert missing.status_code == 404
    assert only_error(missing)["message"] == "action 999999999 not found"
    assert (await other_caller.rest("GET", f"/actions/{their_id}")).status_code == 200


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "1.5", "99999999999999999999999", "%C3%A9"])
async def test_an_id_that_cannot_be_an_action_is_not_found(caller: Caller, raw: str) -> None:
    response = await caller.rest("GET", f"/actions/{raw}")
    assert response.status_code == 404
    error = only_error(response)
    assert error["code"] == "NOT_FOUND" and error["message"].startswith("action ")


async def refused(
    caller: Caller, runtime: Runtime, body: Any, **kwargs: Any
) -> list[dict[str, Any]]:
    """POST /actions that must be refused with 422 and store nothing; the errors."""
    before = await stored_actions(runtime, caller.company_id)
    response = await caller.rest("POST", "/actions", json=body, **kwargs)
    assert response.status_code == 422, response.text
    assert await stored_actions(runtime, caller.company_id) == before
    return errors(response)


async def test_every_problem_of_the_data_is_listed_at_once(
    caller: Caller, runtime: Runtime
) -> None:
    body = {"type": "tag_app", "data": {"app_id": "1", "tag_text": "", "colour": "red"}}
    assert await refused(caller, runtime, body) == [
        {
            "field": "data.colour",
            "message": "unknown key 'colour' (allowed: app_id, tag_text)",
            "code": "UNKNOWN_FIELD",
        },
        {"field": "data.app_id", "message": "app_id must be an integer", "code": "INVALID_TYPE"},
        {"field": "data.tag_text", "message": "tag_text must not be empty", "code": "BLANK"},
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {},
            [
                {"field": "type", "message": "type is required", "code": "REQUIRED"},
                {"field": "data", "message": "data is required", "code": "REQUIRED"},
            ],
        ),
        (
            {"type": 5, "data": [1]},
            [
                {"field": "type", "message": "type must be a string", "code": "INVALID_TYPE"},
                {"field": "data", "message": "data must be a JSON object", "code": "INVALID"},
            ],
        ),
        (
            {"type": "", "data": {}},
            [{"field": "type", "message": "type must not be empty", "code": "BLANK"}],
        ),
        (
            {"type": "TagApp", "data": {}},
            [
                {
                    "field": "type",
                    "message": "unknown action type 'TagApp' (known: note_app, "
                    "post_dashboard_notification, set_job_status, tag_app)",
                    "code": "UNKNOWN_TYPE",
                }
            ],
        ),
        (
            # A stray key beside the body's own: named with the data's problems.
            {"type": "tag_app", "data": {"app_id": True}, "trigger_id": None},
            [
                {
                    "field": "trigger_id",
                    "message": "unknown key 'trigger_id' (allowed: data, type)",
                    "code": "UNKNOWN_FIELD",
                },
                {"field": "data.tag_text", "message": "tag_text is required", "code": "REQUIRED"},
                {
                    "field": "data.app_id",
                    "message": "app_id must be an integer",
                    "code": "INVALID_TYPE",
                },
            ],
        ),
    ],
)
async def test_a_body_without_a_usable_type_and_data_is_refused(
    caller: Caller, runtime: Runtime, body: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    assert await refused(caller, runtime, body) == expected


async def test_rest_refuses_with_graphqls_errors_for_the_same_data(
    caller: Caller, other_caller: Caller, runtime: Runtime
) -> None:
    job_id = int(await caller.create_job())
    their_app = int(await other_caller.create_app(await other_caller.create_job()))
    cases = [
        ("tag_app", {"app_id": their_app, "tag_text": "x"}),
        ("tag_app", {"app_id": 0, "tag_text": "x" * 1001}),
        ("set_job_status", {"job_id": job_id, "status": "archived"}),
        ("set_job_status", {"job_id": 1.0, "status": None}),
        ("post_dashboard_notification", {"message": "\x00", "job_id": "1", "app_id": None}),
        ("note_app", {}),
        ("send_email", {"to": "a@b.c"}),
    ]
    for type_name, data in cases:
        rest_errors = await refused(caller, runtime, {"type": type_name, "data": data})
        graphql = await caller.graphql(CREATE_ACTION_ERRORS, {"type": type_name, "data": data})
        assert graphql["createAction"]["action"] is None
        assert rest_errors == graphql["createAction"]["errors"], (type_name, data)
    assert await stored_actions(runtime, caller.company_id) == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[1, 2]", "the body must be a JSON object, not an array"),
        (b'"tag_app"', "the body must be a JSON object, not a string"),
        (b"null", "the body must be a JSON object, not null"),
        (b"12", "the body must be a JSON object, not a number"),
        (b'{"type": "tag_app",', "the body is not valid JSON: "),
        (b"", "the body is not valid JSON: "),
        (b'{"type": "tag_app", "data": {"app_id": NaN}}', "the body is not valid JSON: "),
        (b"\xff\xfe{}", "the body is not valid JSON: "),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    caller: Caller, runtime: Runtime, content: bytes, says: str
) -> None:
    response = await caller.rest(
        "POST",
        "/actions",
        content=content,
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = only_error(response)
    assert error["message"].startswith(says), error
    assert error["code"] in {"INVALID_JSON", "INVALID_BODY"}
    assert await stored_actions(runtime, caller.company_id) == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"]
)
async def test_a_body_not_sent_as_json_is_an_unsupported_media_type(
    caller: Caller, runtime: Runtime, content_type: str | None
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    headers = dict(caller.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = f'{{"type": "tag_app", "data": {{"app_id": {app_id}, "tag_text": "x"}}}}'
    response = await caller.rest("POST", "/actions", content=body.encode(), headers=headers)
    assert response.status_code == 415
    error = only_error(response)
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "Content-Type: application/json" in error["message"]
    assert (content_type or "no Content-Type") in error["message"]
    assert await stored_actions(runtime, caller.company_id) == 0


async def test_json_media_types_with_parameters_or_a_json_suffix_are_accepted(
    caller: Caller,
) -> None:
    body = b'{"type": "post_dashboard_notification", "data": {"message": "hi"}}'
    for content_type in ["application/json; charset=utf-8", "application/vnd.api+json"]:
        response = await caller.rest(
            "POST",
            "/actions",
            content=body,
            headers={**caller.headers, "Content-Type": content_type},
        )
        assert response.status_code == 201, (content_type, response.text)


def oversized_body() -> bytes:
    padding = "x" * MAX_BODY_BYTES
    return f'{{"type": "note_app", "data": {{"app_id": 1, "note_text": "{padding}"}}}}'.encode()


async def test_a_body_over_the_limit_is_too_large(caller: Caller, runtime: Runtime) -> None:
    response = await caller.rest(
        "POST",
        "/actions",
        content=oversized_body(),
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    error = only_error(response)
    assert error == {
        "field": None,
        "message": f"the body must be at most {MAX_BODY_BYTES} bytes",
        "code": "BODY_TOO_LARGE",
    }
    assert await stored_actions(runtime, caller.company_id) == 0


async def test_a_chunked_body_over_the_limit_is_too_large(caller: Caller, runtime: Runtime) -> None:
    body = oversized_body()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = await caller.rest(
        "POST",
        "/actions",
        content=chunks(),
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413
    assert only_error(response)["code"] == "BODY_TOO_LARGE"
    assert await stored_actions(runtime, caller.company_id) == 0


async def test_a_body_just_within_the_limit_is_read(caller: Caller, runtime: Runtime) -> None:
    body = oversized_body()[: MAX_BODY_BYTES - 3] + b'"}}'
    assert len(body) == MAX_BODY_BYTES
    listed = await refused(
        caller,
        runtime,
        None,
        content=body,
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert [(e["field"], e["code"]) for e in listed] == [("data.note_text", "TOO_LONG")]


async def test_unknown_routes_and_methods_answer_in_json(caller: Caller) -> None:
    missing = await caller.rest("GET", "/nothing-here", documented=False)
    assert missing.status_code == 404
    assert only_error(missing) == {
        "field": None,
        "message": "there is no endpoint at /api/v1/nothing-here",
        "code": "NOT_FOUND",
    }
    wrong = await caller.rest("DELETE", "/actions", documented=False)
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    error = only_error(wrong)
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert error["message"].startswith("DELETE is not allowed on /api/v1/actions (allowed: ")

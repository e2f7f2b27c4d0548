"""Typed create mutations and typed data, generated from the registry of action types."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, GraphQLUnionType, build_schema

from tests.support import ROOT, Caller, free_port, start_process, stop_process, wait_http

# appId is ID! on TagAppData but ID on PostDashboardNotificationData: selected together, one
# needs an alias (GraphQL merges same-named fields of a selection only if their types agree).
TYPED_DATA = """
  typedData {
    __typename
    ... on TagAppData { appId tagText }
    ... on NoteAppData { appId noteText }
    ... on SetJobStatusData { jobId status }
    ... on PostDashboardNotificationData { message aboutApp: appId aboutJob: jobId }
  }
"""
PAYLOAD = f"{{ action {{ id type status data {TYPED_DATA} }} errors {{ field message code }} }}"


async def create(caller: Caller, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
    field = mutation[0].upper() + mutation[1:]
    data = await caller.graphql(
        f"mutation($input: {field}Input!) {{ {mutation}(input: $input) {PAYLOAD} }}",
        {"input": input},
    )
    payload: dict[str, Any] = data[mutation]
    return payload


async def test_each_typed_mutation_stores_the_same_action_as_create_action(
    caller: Caller,
) -> None:
    job_id = await caller.create_job()
    app_id = await caller.create_app(job_id)
    cases: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
        (
            "createTagAppAction",
            {"appId": app_id, "tagText": "shortlist"},
            {"app_id": int(app_id), "tag_text": "shortlist"},
            {"__typename": "TagAppData", "appId": app_id, "tagText": "shortlist"},
        ),
        (
            "createNoteAppAction",
            {"appId": app_id, "noteText": "Strong portfolio"},
            {"app_id": int(app_id), "note_text": "Strong portfolio"},
            {"__typename": "NoteAppData", "appId": app_id, "noteText": "Strong portfolio"},
        ),
        (
            "createSetJobStatusAction",
            {"jobId": job_id, "status": "ON_HOLD"},
            {"job_id": int(job_id), "status": "on_hold"},
            {"__typename": "SetJobStatusData", "jobId": job_id, "status": "ON_HOLD"},
        ),
        (
            "createPostDashboardNotificationAction",
            {"message": "Plain"},
            {"message": "Plain"},
            {
                "__typename": "PostDashboardNotificationData",
                "message": "Plain",
                "aboutApp": None,
                "aboutJob": None,
            },
        ),
        (
            "createPostDashboardNotificationAction",
            {"message": "About Ada", "appId": app_id, "jobId": None},
            {"message": "About Ada", "app_id": int(app_id)},
            {
                "__typename": "PostDashboardNotificationData",
                "message": "About Ada",
                "aboutApp": app_id,
                "aboutJob": None,
            },
        ),
    ]
    for mutation, input, data, typed in cases:
        payload = await create(caller, mutation, input)
        assert payload["errors"] == [], (mutation, payload)
        action = payload["action"]
        assert (action["data"], action["typedData"], action["status"]) == (data, typed, "PENDING")
        done = await caller.wait_for_status(action["id"], {"EXECUTED", "FAILED"})
        assert done["status"] == "EXECUTED", (mutation, done)

    state = await caller.graphql(
        "query($a: ID!, $j: ID!) { app(id: $a) { tags notes { text } } job(id: $j) { status } }",
        {"a": app_id, "j": job_id},
    )
    assert state == {
        "app": {"tags": ["shortlist"], "notes": [{"text": "Strong portfolio"}]},
        "job": {"status": "on_hold"},
    }


async def test_actions_made_by_create_action_have_typed_data_too(caller: Caller) -> None:
    created = await caller.graphql(
        'mutation { createAction(input: {type: "set_job_status", '
        f'data: {{job_id: {await caller.create_job()}, status: "closed"}}}}) {PAYLOAD} }}'
    )
    typed = created["createAction"]["action"]["typedData"]
    assert typed["__typename"] == "SetJobStatusData" and typed["status"] == "CLOSED"


async def test_typed_mutations_share_validation_and_name_the_typed_field(
    caller: Caller, other_caller: Caller
) -> None:
    foreign_app = await other_caller.create_app(await other_caller.create_job())
    app_id = await caller.create_app(await caller.create_job())
    # (generic type and data, typed mutation and input, the field each names)
    cases = [
        (
            ("tag_app", {"app_id": int(foreign_app), "tag_text": "x"}),
            ("createTagAppAction", {"appId": foreign_app, "tagText": "x"}),
            ("data.app_id", "appId", "NOT_FOUND"),
        ),
        (
            ("note_app", {"app_id": int(app_id), "note_text": "  "}),
            ("createNoteAppAction", {"appId": app_id, "noteText": "  "}),
            ("data.note_text", "noteText", "BLANK"),
        ),
    ]
    for (type_name, data), (mutation, input), (generic_field, typed_field, code) in cases:
        generic = await caller.create_action(type_name, data)
        assert [(e["field"], e["code"]) for e in generic["errors"]] == [(generic_field, code)]
        typed = await create(caller, mutation, input)
        assert typed == {
            "action": None,
            "errors": [{**generic["errors"][0], "field": typed_field}],
        }
    listed = await caller.graphql("{ actions { edges { node { id } } } }")
    assert listed["actions"]["edges"] == [], "nothing is stored for a refused request"


async def test_typed_mutations_take_an_idempotency_key(caller: Caller) -> None:
    app_id = await caller.create_app(await caller.create_job())
    input = {"appId": app_id, "noteText": "once", "idempotencyKey": f"typed-{uuid.uuid4()}"}
    first = await create(caller, "createNoteAppAction", input)
    again = await create(caller, "createNoteAppAction", input)
    assert first["errors"] == again["errors"] == []
    assert again["action"]["id"] == first["action"]["id"]
    # The generic mutation knows the key too: one action, whichever way it is asked for.
    generic = await caller.graphql(
        "mutation($data: JSON!, $key: String) { createAction(input: "
        '{type: "note_app", data: $data, idempotencyKey: $key}) { action { id } } }',
        {"data": {"app_id": int(app_id), "note_text": "once"}, "key": input["idempotencyKey"]},
    )
    assert generic["createAction"]["action"]["id"] == first["action"]["id"]

    reused = await create(caller, "createNoteAppAction", {**input, "noteText": "twice"})
    assert reused["action"] is None
    assert [(e["field"], e["code"]) for e in reused["errors"]] == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]


@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "99999999999999999999"])
async def test_an_id_that_cannot_name_a_row_is_a_user_error(caller: Caller, bad_id: str) -> None:
    payload = await create(caller, "createTagAppAction", {"appId": bad_id, "tagText": "x"})
    assert payload["action"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("appId", "INVALID")]


async def test_a_status_outside_the_enum_is_refused_by_graphql(caller: Caller) -> None:
    body = await caller.graphql_raw(
        'mutation { createSetJobStatusAction(input: {jobId: "1", status: PAUSED}) '
        "{ errors { code } } }"
    )
    assert "PAUSED" in body["errors"][0]["message"]


def test_the_committed_schema_has_the_typed_mutations_and_union() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    mutation = schema.mutation_type
    assert mutation is not None
    expected = {
        "createTagAppAction": {"appId": "ID!", "tagText": "String!"},
        "createNoteAppAction": {"appId": "ID!", "noteText": "String!"},
        "createSetJobStatusAction": {"jobId": "ID!", "status": "JobStatus!"},
        "createPostDashboardNotificationAction": {
            "message": "String!",
            "appId": "ID",
            "jobId": "ID",
        },
    }
    for name, fields in expected.items():
        field = mutation.fields[name]
        assert str(field.type) == "CreateActionPayload!"
        input_type = schema.get_type(f"{name[0].upper()}{name[1:]}Input")
        assert isinstance(input_type, GraphQLInputObjectType)
        assert {k: str(v.type) for k, v in input_type.fields.items()} == {
            **fields,
            "idempotencyKey": "String",
        }
        assert str(field.args["input"].type) == f"{input_type.name}!"
    union = schema.get_type("ActionData")
    assert isinstance(union, GraphQLUnionType)
    assert {t.name for t in union.types} == {
        "TagAppData",
        "NoteAppData",
        "SetJobStatusData",
        "PostDashboardNotificationData",
    }
    action = schema.get_type("Action")
    assert isinstance(action, GraphQLObjectType)
    assert str(action.fields["typedData"].type) == "ActionData"
    status = schema.get_type("JobStatus")
    assert list(getattr(status, "values", {})) == ["DRAFT", "OPEN", "ON_HOLD", "CLOSED"]


# A fifth action type, in a module of its own, as a developer would add it.
FIFTH_TYPE = """
from app.actions.base import ActionType, DataField, DataRequirements

PRIORITY = DataField("priority", "string", "How urgent.", allowed_values=("low", "high"))


async def execute(session, action):
    return None


ACTION_TYPE = ActionType(
    name="request_review",
    type_name="RequestReview",
    description="Asks a reviewer to look at an application.",
    create_action=DataRequirements(
        required=(
            DataField("app_id", "integer", "The application.", references="app"),
            DataField("reviewer_email", "string", "Who reviews."),
        ),
        optional=(PRIORITY, DataField("due_in_days", "integer", "Days to answer.")),
    ),
    create_trigger=DataRequirements(required=(DataField("reviewer_email", "string", "Who."),)),
    execute=execute,
)
"""

# Runs the `actions-gateway` command with the fifth module discovered beside the real ones:
# the package's search path is set before the registry first looks at it.
LAUNCHER = """
import pathlib, sys, types
import app
package = types.ModuleType("app.actions.types")
package.__path__ = [str(pathlib.Path(app.__file__).parent / "actions" / "types"), sys.argv[1]]
sys.modules["app.actions.types"] = package
from app.cli import main
main(sys.argv[2:])
"""


@pytest.fixture(scope="module")
def fifth_type(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command line of `actions-gateway` with a fifth action type registered."""
    folder = tmp_path_factory.mktemp("fifth")
    (folder / "types").mkdir()
    (folder / "types" / "request_review.py").write_text(FIFTH_TYPE)
    (folder / "launch.py").write_text(LAUNCHER)
    return [sys.executable, str(folder / "launch.py"), str(folder / "types")]


@pytest.fixture(scope="module")
def fifth_type_gateway(
    fifth_type: list[str], env: dict[str, str], migrated: None, artifacts: Path
) -> Iterator[str]:
    port = free_port()
    server = start_process(
        [*fifth_type, "serve"], {**env, "PORT": str(port)}, artifacts / "fifth-type.log"
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(server)


def test_a_fifth_action_type_gets_its_mutation_and_union_member(fifth_type: list[str]) -> None:
    sdl = subprocess.run(
        [*fifth_type, "export-schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=os.environ,
    ).stdout
    schema = build_schema(sdl)
    mutation = schema.mutation_type
    assert mutation is not None
    field = mutation.fields["createRequestReviewAction"]
    assert str(field.type) == "CreateActionPayload!"
    input_type = schema.get_type("CreateRequestReviewActionInput")
    assert isinstance(input_type, GraphQLInputObjectType)
    assert {k: str(v.type) for k, v in input_type.fields.items()} == {
        "appId": "ID!",
        "reviewerEmail": "String!",
        "priority": "RequestReviewPriority",
        "dueInDays": "Int",
        "idempotencyKey": "String",
    }
    union = schema.get_type("ActionData")
    assert isinstance(union, GraphQLUnionType)
    assert "RequestReviewData" in {t.name for t in union.types}
    assert len(union.types) == 5


async def test_a_fifth_action_type_is_created_and_read_through_its_typed_api(
    caller: Caller, fifth_type_gateway: str
) -> None:
    app_id = await caller.create_app(await caller.create_job())
    typed = Caller(fifth_type_gateway, caller.company_id, caller.api_key)
    data = await typed.graphql(
        "mutation($app: ID!) { createRequestReviewAction(input: "
        '{appId: $app, reviewerEmail: "grace@example.com", priority: HIGH}) '
        "{ action { type data typedData { ... on RequestReviewData "
        "{ appId reviewerEmail priority dueInDays } } } errors { field code } } }",
        {"app": app_id},
    )
    payload = data["createRequestReviewAction"]
    assert payload["errors"] == []
    assert payload["action"] == {
        "type": "request_review",
        "data": {"app_id": int(app_id), "reviewer_email": "grace@example.com", "priority": "high"},
        "typedData": {
            "appId": app_id,
            "reviewerEmail": "grace@example.com",
            "priority": "HIGH",
            "dueInDays": None,
        },
    }

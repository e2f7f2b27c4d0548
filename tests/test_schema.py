"""The committed schema.graphql is what the code builds: clients generate types from it."""

from __future__ import annotations

import subprocess

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, build_schema

from tests.support import ROOT, command


def test_committed_schema_matches_export_schema() -> None:
    exported = subprocess.run(
        command("export-schema"), capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    committed = (ROOT / "schema.graphql").read_text()
    assert exported == committed, (
        "schema.graphql is stale: run `actions-gateway export-schema > schema.graphql`"
    )


# The fixed names of the public contract (CONTRACT.md): type, field, arguments, result.
CONTRACT = [
    ("Query", "actionTypes", {}, "[ActionType!]!"),
    ("Query", "action", {"id": "ID!"}, "Action"),
    (
        "Query",
        "actions",
        {"first": "Int", "after": "String", "status": "ActionStatus", "type": "String"},
        "ActionConnection!",
    ),
    ("Query", "app", {"id": "ID!"}, "App"),
    ("Query", "job", {"id": "ID!"}, "Job"),
    ("Query", "dashboardNotifications", {"first": "Int"}, "[DashboardNotification!]!"),
    ("Mutation", "createAction", {"input": "CreateActionInput!"}, "CreateActionPayload!"),
    ("Mutation", "createJob", {"input": "CreateJobInput!"}, "CreateJobPayload!"),
    ("Mutation", "createApp", {"input": "CreateAppInput!"}, "CreateAppPayload!"),
    ("Mutation", "setJobStatus", {"input": "SetJobStatusInput!"}, "SetJobStatusPayload!"),
    ("Subscription", "action", {"id": "ID!"}, "Action!"),
    ("Subscription", "actions", {}, "Action!"),
    ("CreateActionPayload", "errors", {}, "[UserError!]!"),
    ("UserError", "code", {}, "String!"),
    ("Action", "status", {}, "ActionStatus!"),
    ("Action", "data", {}, "JSON!"),
    ("Action", "executedAt", {}, "DateTime"),
    ("Action", "attempts", {}, "Int!"),
    ("Query", "triggers", {}, "[Trigger!]!"),
    ("Mutation", "createTrigger", {"input": "CreateTriggerInput!"}, "CreateTriggerPayload!"),
    ("Mutation", "deleteTrigger", {"id": "ID!"}, "DeleteTriggerPayload!"),
    ("CreateTriggerPayload", "trigger", {}, "Trigger"),
    ("CreateTriggerPayload", "errors", {}, "[UserError!]!"),
    ("DeleteTriggerPayload", "errors", {}, "[UserError!]!"),
    ("Trigger", "id", {}, "ID!"),
    ("Trigger", "event", {}, "TriggerEvent!"),
    ("Trigger", "actionType", {}, "String!"),
    ("Trigger", "data", {}, "JSON!"),
    ("Trigger", "jobId", {}, "ID"),
    ("Trigger", "createdAt", {}, "DateTime!"),
]
INPUTS = {
    "CreateActionInput": {"type": "String!", "data": "JSON!"},
    "CreateTriggerInput": {
        "event": "TriggerEvent!",
        "actionType": "String!",
        "data": "JSON!",
        "jobId": "ID",
    },
}
ENUMS = {
    "ActionStatus": ["PENDING", "RUNNING", "EXECUTED", "FAILED", "CANCELED"],
    "TriggerEvent": ["APPLICANT_NEW", "JOB_STATUS_CHANGED"],
}


def test_schema_keeps_the_contract_names() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    for type_name, field_name, arguments, result in CONTRACT:
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType), type_name
        field = graphql_type.fields[field_name]
        assert str(field.type) == result, (type_name, field_name)
        given = {name: str(arg.type) for name, arg in field.args.items()}
        assert {name: given.get(name) for name in arguments} == arguments, (type_name, field_name)
        # The product may add arguments, but a call written against the contract must still
        # be valid: every added argument is optional.
        added = {name for name in given if name not in arguments}
        assert all(not given[name].endswith("!") for name in added), (type_name, field_name)
    for name, values in ENUMS.items():
        enum = schema.get_type(name)
        assert isinstance(enum, GraphQLEnumType), name
        assert list(enum.values) == values
    for name, fields in INPUTS.items():
        graphql_input = schema.get_type(name)
        assert isinstance(graphql_input, GraphQLInputObjectType), name
        # The contract's fields, with their types; the product may add optional ones.
        assert {k: str(graphql_input.fields[k].type) for k in fields} == fields

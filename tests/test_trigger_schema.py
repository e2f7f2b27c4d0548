"""The trigger names that the public contract (CONTRACT.md) fixes, as schema.graphql has them."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_schema,
)

from tests.support import ROOT

FIELDS = {
    ("Query", "triggers"): ({}, "[Trigger!]!"),
    ("Mutation", "createTrigger"): ({"input": "CreateTriggerInput!"}, "CreateTriggerPayload!"),
    ("Mutation", "deleteTrigger"): ({"id": "ID!"}, "DeleteTriggerPayload!"),
    ("CreateTriggerPayload", "trigger"): ({}, "Trigger"),
    ("CreateTriggerPayload", "errors"): ({}, "[UserError!]!"),
    ("DeleteTriggerPayload", "errors"): ({}, "[UserError!]!"),
    ("Trigger", "id"): ({}, "ID!"),
    ("Trigger", "event"): ({}, "TriggerEvent!"),
    ("Trigger", "actionType"): ({}, "String!"),
    ("Trigger", "data"): ({}, "JSON!"),
    ("Trigger", "jobId"): ({}, "ID"),
    ("Trigger", "createdAt"): ({}, "DateTime!"),
}
INPUT = {"event": "TriggerEvent!", "actionType": "String!", "data": "JSON!", "jobId": "ID"}


def test_schema_keeps_the_trigger_contract_names() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    for (type_name, field_name), (arguments, result) in FIELDS.items():
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType), type_name
        field = graphql_type.fields[field_name]
        assert str(field.type) == result, (type_name, field_name)
        assert {name: str(arg.type) for name, arg in field.args.items()} == arguments
    event = schema.get_type("TriggerEvent")
    assert isinstance(event, GraphQLEnumType)
    assert list(event.values) == ["APPLICANT_NEW", "JOB_STATUS_CHANGED"]
    create = schema.get_type("CreateTriggerInput")
    assert isinstance(create, GraphQLInputObjectType)
    assert {name: str(f.type) for name, f in create.fields.items()} == INPUT

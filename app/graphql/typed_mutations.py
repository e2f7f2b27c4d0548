"""One typed create mutation per action type, generated from the registry.

`createTagAppAction(input: {appId: ID!, tagText: String!})` is `createAction(type: "tag_app",
data: {app_id, tag_text})` with types a client's code generator can check: the input becomes
the same `data` and goes through the same service, validation and storage. A new action type
gets its mutation here without a change to this module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from app.actions import REGISTRY
from app.actions.base import ActionType, DataField
from app.actions.validation import DATA_FIELD
from app.graphql.action_data import data_fields, typed_class
from app.graphql.context import Info
from app.graphql.mutations import (
    IDEMPOTENCY_KEY_HELP,
    CreateActionPayload,
    create_action_payload,
    id_problem,
)
from app.graphql.types import UserError, parse_id

# Beside the type's own keys in each typed input, as in createAction's input.
KEY_ATTRIBUTE = "idempotency_key"


def input_value(spec: DataField, value: Any) -> Any:
    """A typed input's value as the registry's data holds it; None for an invalid ID."""
    if spec.references is not None:
        return parse_id(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def input_field_name(field: str | None) -> str | None:
    """`data.app_id` (the generic mutation's path) as the typed input names it: `appId`."""
    prefix = DATA_FIELD + "."
    if field is not None and field.startswith(prefix):
        return to_camel_case(field.removeprefix(prefix))
    return field


def to_data(action_type: ActionType, given: object) -> tuple[dict[str, Any], list[UserError]]:
    data: dict[str, Any] = {}
    errors: list[UserError] = []
    for spec in action_type.create_action.fields:
        value = getattr(given, spec.name)
        if value is None or value is strawberry.UNSET:
            continue  # an optional key left out
        data[spec.name] = input_value(spec, value)
        if data[spec.name] is None:
            errors += id_problem(to_camel_case(spec.name), value)
    return data, errors


def typed_mutation(action_type: ActionType) -> StrawberryField:
    fields = data_fields(action_type)
    assert KEY_ATTRIBUTE not in fields, f"{action_type.name}: a data key may not be {KEY_ATTRIBUTE}"
    input_type = typed_class(
        f"Create{action_type.type_name}ActionInput",
        f"The data of a {action_type.name} action.",
        {**fields, KEY_ATTRIBUTE: (str | None, None, IDEMPOTENCY_KEY_HELP)},
        strawberry.input,
    )

    async def create(info: Info, input: Any) -> CreateActionPayload:
        data, id_errors = to_data(action_type, input)
        if id_errors:
            return CreateActionPayload(action=None, errors=id_errors)
        key = getattr(input, KEY_ATTRIBUTE)
        payload = await create_action_payload(info, action_type.name, data, key)
        for error in payload.errors:
            error.field = input_field_name(error.field)
        return payload

    # Strawberry reads the input's type from the annotation, which exists only at run time.
    create.__annotations__ = {"info": Info, "input": input_type, "return": CreateActionPayload}
    field: StrawberryField = strawberry.mutation(
        resolver=create,
        name=f"create{action_type.type_name}Action",
        description=f"{action_type.description} Runs asynchronously, like createAction.",
    )
    return field


def build_typed_mutations(registry: Mapping[str, ActionType]) -> type:
    fields = {f"create_{name}_action": typed_mutation(t) for name, t in registry.items()}
    made: type = strawberry.type(type("TypedActionMutations", (), fields))
    return made


TypedActionMutations = build_typed_mutations(REGISTRY)

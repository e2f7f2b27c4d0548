"""Typed GraphQL types for action data, generated from the registry.

Each action type's data becomes an object type (`tag_app` -> `TagAppData { appId tagText }`),
all of them members of the `ActionData` union that `Action.typedData` returns. Keys are
camelCased; keys that reference rows are IDs; keys with allowed values are enums. A new
action type gets its member here without a change to this module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, cast

import strawberry

from app.actions import REGISTRY
from app.actions.base import ActionType, DataField

# One enum per name across every type built here: input and output types must share it.
_ENUMS: dict[str, type[enum.Enum]] = {}


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def value_enum(action_type: ActionType, spec: DataField) -> type[enum.Enum]:
    """The GraphQL enum of a field's allowed values: `on_hold` is ON_HOLD."""
    assert spec.allowed_values is not None
    name = spec.enum_name or f"{action_type.type_name}{pascal(spec.name)}"
    members = {value.upper(): value for value in spec.allowed_values}
    existing = _ENUMS.get(name)
    if existing is not None:
        if {m.name: m.value for m in existing} != members:
            raise ValueError(f"enum {name} is defined twice with different values")
        return existing
    # The functional API makes a class; mypy takes it for a member.
    values = cast("type[enum.Enum]", enum.Enum(name, members))
    made = strawberry.enum(values, description=f"The values of {spec.name}.")
    _ENUMS[name] = made
    return made


def field_type(action_type: ActionType, spec: DataField) -> Any:
    """The GraphQL type of a data key, without nullability."""
    if spec.references is not None:
        return strawberry.ID
    if spec.allowed_values is not None:
        return value_enum(action_type, spec)
    return int if spec.kind == "integer" else str


def typed_class(
    name: str, description: str, fields: Mapping[str, tuple[Any, Any, str]], kind: Any
) -> type:
    """A Strawberry class from (annotation, default, description) per snake_case attribute."""
    namespace: dict[str, Any] = {"__annotations__": {}}
    for attribute, (annotation, default, text) in fields.items():
        namespace["__annotations__"][attribute] = annotation
        namespace[attribute] = strawberry.field(description=text, default=default)
    made: type = kind(type(name, (), namespace), description=description)
    return made


def data_fields(action_type: ActionType) -> dict[str, tuple[Any, Any, str]]:
    """Required keys first, as the registry lists them; optional ones nullable."""
    required = {
        spec.name: (field_type(action_type, spec), strawberry.UNSET, spec.description)
        for spec in action_type.create_action.required
    }
    # UNSET, not None: an optional input is absent, not `= null`, in the SDL.
    optional = {
        spec.name: (field_type(action_type, spec) | None, strawberry.UNSET, spec.description)
        for spec in action_type.create_action.optional
    }
    return {**required, **optional}


def output_value(action_type: ActionType, spec: DataField, value: Any) -> Any:
    if value is None:
        return None
    if spec.references is not None:
        return strawberry.ID(str(value))
    if spec.allowed_values is not None:
        return value_enum(action_type, spec)(value)
    return value


@dataclass(frozen=True)
class ActionDataTypes:
    # The union, as an annotation Strawberry reads.
    union: Any
    members: Mapping[str, tuple[ActionType, type]]

    def of(self, type_name: str, data: Any) -> object | None:
        """An action's data as its union member; None for a type no longer registered."""
        found = self.members.get(type_name)
        if found is None or not isinstance(data, dict):
            return None
        action_type, cls = found
        member: object = cls(
            **{
                spec.name: output_value(action_type, spec, data.get(spec.name))
                for spec in action_type.create_action.fields
            }
        )
        return member


def build_action_data(registry: Mapping[str, ActionType]) -> ActionDataTypes:
    members = {
        action_type.name: (
            action_type,
            typed_class(
                f"{action_type.type_name}Data",
                f"The data of a {action_type.name} action: {action_type.description}",
                data_fields(action_type),
                strawberry.type,
            ),
        )
        for action_type in registry.values()
    }
    union: Any = Annotated[
        Union[tuple(cls for _, cls in members.values())],  # noqa: UP007
        strawberry.union("ActionData", description="An action's data, typed by its action type."),
    ]
    return ActionDataTypes(union, members)


ACTION_DATA = build_action_data(REGISTRY)
ActionData = ACTION_DATA.union

"""The registry of action types: one module per type in `app/actions/types/`.

Adding a type means adding a module there that defines `ACTION_TYPE`; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from app.actions import types as _types_package
from app.actions.base import ActionType, DataField, DataRequirements


def _discover() -> dict[str, ActionType]:
    found: dict[str, ActionType] = {}
    for module_info in sorted(pkgutil.iter_modules(_types_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_types_package.__name__}.{module_info.name}")
        action_type = getattr(module, "ACTION_TYPE", None)
        if not isinstance(action_type, ActionType):
            raise TypeError(f"{module.__name__} must define ACTION_TYPE = ActionType(...)")
        taken = {n for t in found.values() for n in (t.name, t.type_name)}
        for label in (action_type.name, action_type.type_name):
            if label in taken:
                raise ValueError(f"action type {label!r} is defined twice")
        found[action_type.name] = action_type
    return found


REGISTRY: dict[str, ActionType] = _discover()
_BY_TYPE_NAME: dict[str, ActionType] = {t.type_name: t for t in REGISTRY.values()}


def get_action_type(name: str) -> ActionType | None:
    return REGISTRY.get(name)


def find_action_type(label: str) -> ActionType | None:
    """By name (tag_app) or by type name (TagApp), as the vendor's records show it."""
    return REGISTRY.get(label) or _BY_TYPE_NAME.get(label)


def type_name_of(name: str) -> str:
    """The type name that records show for a stored type; the name itself if it is gone."""
    action_type = REGISTRY.get(name)
    return name if action_type is None else action_type.type_name


__all__ = [
    "REGISTRY",
    "ActionType",
    "DataField",
    "DataRequirements",
    "find_action_type",
    "get_action_type",
    "type_name_of",
]

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
        if action_type.name in found:
            raise ValueError(f"action type {action_type.name!r} is defined twice")
        found[action_type.name] = action_type
    return found


REGISTRY: dict[str, ActionType] = _discover()


def get_action_type(name: str) -> ActionType | None:
    return REGISTRY.get(name)


__all__ = ["REGISTRY", "ActionType", "DataField", "DataRequirements", "get_action_type"]

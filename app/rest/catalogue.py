"""`GET /workflow/actions`: the catalogue of action types, in the vendor's shape, from the registry.

An array with one object per type, keyed by its name, each with `create_trigger` and
`create_action`; each of those with `required_data` and, where the type has any,
`optional_data`; each key as `{"type": ...}`, with `allowed_values` where the field has a list.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.actions import REGISTRY, DataField, DataRequirements
from app.rest.common import JSONResponse, endpoint
from app.runtime import Runtime


def field_entry(spec: DataField) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": spec.kind}
    if spec.allowed_values is not None:
        entry["allowed_values"] = list(spec.allowed_values)
    return entry


def requirements_entry(requirements: DataRequirements) -> dict[str, Any]:
    entry = {"required_data": {f.name: field_entry(f) for f in requirements.required}}
    if requirements.optional:
        entry["optional_data"] = {f.name: field_entry(f) for f in requirements.optional}
    return entry


def catalogue() -> list[dict[str, Any]]:
    # create_trigger before create_action, as the vendor's payload has them.
    return [
        {
            action_type.name: {
                "create_trigger": requirements_entry(action_type.create_trigger),
                "create_action": requirements_entry(action_type.create_action),
            }
        }
        for action_type in REGISTRY.values()
    ]


# The registry is fixed once imported, so the catalogue is too.
CATALOGUE = catalogue()


@endpoint
async def list_action_types(request: Request, runtime: Runtime, company_id: int) -> Response:
    return JSONResponse(CATALOGUE)

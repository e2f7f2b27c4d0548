"""`GET /openapi.json`: an OpenAPI 3.0 description of the REST routes, to generate clients from.

The schemas of action data come from the registry, like the catalogue; a test checks that the
paths here are the routes that exist and that real responses match their schemas.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.actions import REGISTRY, DataField, DataRequirements
from app.actions.base import MAX_ID, MAX_STRING_LENGTH
from app.actions.trigger_events import EVENT_KINDS
from app.errors import ErrorCode
from app.models import ActionStatus
from app.rest.common import MAX_BODY_BYTES, PREFIX, JSONResponse, endpoint
from app.runtime import Runtime
from app.services.actions import MAX_PAGE_SIZE

OPENAPI_VERSION = "3.0.3"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def response_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


ID = {"type": "string", "pattern": "^[0-9]+$", "example": "1"}
TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    "example": "2020-02-13T16:42:00Z",
}


def field_schema(spec: DataField, *, optional: bool) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind == "integer":
        schema = {"type": "integer", "format": "int64"}
        if spec.references is not None:
            schema |= {"minimum": 1, "maximum": MAX_ID}
    elif spec.kind == "string":
        # Not empty nor only spaces.
        schema = {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_STRING_LENGTH,
            "pattern": r"\S",
        }
        if spec.allowed_values is not None:
            schema["enum"] = list(spec.allowed_values)
    else:
        schema = {"type": "object"}
    if optional:
        # An optional key given as null is the same as leaving it out.
        schema["nullable"] = True
    return schema | {"description": spec.description}


def data_schema(requirements: DataRequirements) -> dict[str, Any]:
    properties = {f.name: field_schema(f, optional=False) for f in requirements.required}
    properties |= {f.name: field_schema(f, optional=True) for f in requirements.optional}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if requirements.required:
        schema["required"] = [f.name for f in requirements.required]
    return schema


def _create_schemas() -> dict[str, Any]:
    """One request schema per action type, and their union discriminated by `type`."""
    schemas: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for action_type in REGISTRY.values():
        name = f"Create{action_type.type_name}Action"
        schemas[name] = {
            "type": "object",
            "description": action_type.description,
            "required": ["type", "data"],
            "additionalProperties": False,
            "properties": {
                "type": {"type": "string", "enum": [action_type.name]},
                "data": data_schema(action_type.create_action),
            },
        }
        mapping[action_type.name] = ref(name)["$ref"]
    schemas["CreateAction"] = {
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    return schemas


def _trigger_schemas() -> dict[str, Any]:
    events = [kind.name for kind in EVENT_KINDS.values()]
    action_types = list(REGISTRY)
    return {
        "EventCatalogue": {
            "type": "array",
            "description": "One object per event, keyed by its name.",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {
                    "type": "object",
                    "required": ["description", "supplied_data", "action_types"],
                    "additionalProperties": False,
                    "properties": {
                        "description": {"type": "string"},
                        "supplied_data": {
                            "type": "object",
                            "additionalProperties": ref("FieldRequirement"),
                        },
                        "action_types": {
                            "type": "array",
                            "items": {"type": "string", "enum": action_types},
                        },
                    },
                },
            },
        },
        "CreateTrigger": {
            "type": "object",
            "required": ["event", "action_type", "data"],
            "additionalProperties": False,
            "properties": {
                "event": {"type": "string", "enum": events},
                "action_type": {"type": "string", "enum": action_types},
                "data": {
                    "type": "object",
                    "description": "The action type's create_trigger data.",
                },
                "job_id": ID | {"nullable": True, "description": "Fire only for this job."},
            },
        },
        "Trigger": {
            "type": "object",
            "required": [
                "id",
                "company_id",
                "event",
                "action_type",
                "data",
                "job_id",
                "created_at",
            ],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "company_id": ID,
                "event": {"type": "string", "enum": events},
                "action_type": {"type": "string", "enum": action_types},
                "data": {"type": "object"},
                "job_id": ID | {"nullable": True},
                "created_at": TIMESTAMP,
            },
        },
    }


def _trigger_paths(admission: dict[str, Any]) -> dict[str, Any]:
    return {
        "/workflow/events": {
            "get": {
                "operationId": "listTriggerEvents",
                "summary": "The events a trigger can answer, and what each supplies",
                "parameters": [
                    _query(
                        "action_type",
                        "Only the events that can fire this action type.",
                        {"type": "string", "enum": list(REGISTRY)},
                    )
                ],
                "responses": {
                    "200": {
                        "description": "The events.",
                        "content": json_content(ref("EventCatalogue")),
                    },
                    **admission,
                    "422": response_ref("Refused"),
                },
            }
        },
        "/triggers": {
            "get": {
                "operationId": "listTriggers",
                "summary": "Your company's triggers",
                "responses": {
                    "200": {
                        "description": "The triggers.",
                        "content": json_content({"type": "array", "items": ref("Trigger")}),
                    },
                    **admission,
                },
            },
            "post": {
                "operationId": "createTrigger",
                "summary": "Create a trigger: an action made each time its event happens",
                "requestBody": {"required": True, "content": json_content(ref("CreateTrigger"))},
                "responses": {
                    "201": {"description": "Stored.", "content": json_content(ref("Trigger"))},
                    "400": response_ref("BadBody"),
                    **admission,
                    "413": response_ref("BodyTooLarge"),
                    "415": response_ref("UnsupportedMediaType"),
                    "422": response_ref("Refused"),
                },
            },
        },
        "/triggers/{id}": {
            "delete": {
                "operationId": "deleteTrigger",
                "summary": "Delete a trigger; the actions it made keep their trigger_id",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": ID}],
                "responses": {
                    "204": {"description": "Deleted."},
                    **admission,
                    "404": response_ref("NotFound"),
                },
            }
        },
    }


def _schemas() -> dict[str, Any]:
    requirement_map = {"type": "object", "additionalProperties": ref("FieldRequirement")}
    return {
        "FieldRequirement": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"type": "string", "enum": ["integer", "string", "object"]},
                "allowed_values": {"type": "array", "items": {"type": "string"}},
            },
        },
        "DataRequirements": {
            "type": "object",
            "required": ["required_data"],
            "additionalProperties": False,
            "properties": {"required_data": requirement_map, "optional_data": requirement_map},
        },
        "ActionTypeRequirements": {
            "type": "object",
            "required": ["create_trigger", "create_action"],
            "additionalProperties": False,
            "properties": {
                "create_trigger": ref("DataRequirements"),
                "create_action": ref("DataRequirements"),
            },
        },
        "Catalogue": {
            "type": "array",
            "description": "One object per action type, keyed by the type's name.",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": ref("ActionTypeRequirements"),
            },
        },
        "Action": {
            "type": "object",
            "required": [
                "id",
                "company_id",
                "trigger_id",
                "type",
                "data",
                "executed_at",
                "created_at",
                "updated_at",
                "status",
                "error",
            ],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "company_id": ID,
                "trigger_id": ID | {"nullable": True, "example": None},
                "type": {
                    "type": "string",
                    "description": "The type name, e.g. TagApp.",
                    "example": "TagApp",
                },
                "data": {"type": "object", "description": "The data it was created with."},
                "executed_at": TIMESTAMP
                | {
                    "nullable": True,
                    "description": "When its effect was applied: null until then, and for "
                    "a failed action.",
                },
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "status": {"type": "string", "enum": [s.value for s in ActionStatus]},
                "error": {
                    "type": "string",
                    "nullable": True,
                    "description": "Why it failed, if it did.",
                },
            },
        },
        **_create_schemas(),
        **_trigger_schemas(),
        "Error": {
            "type": "object",
            "required": ["field", "message", "code"],
            "additionalProperties": False,
            "properties": {
                "field": {
                    "type": "string",
                    "nullable": True,
                    "description": "What is at fault, e.g. data.app_id or per_page.",
                },
                "message": {"type": "string", "description": "For a person."},
                "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
            },
        },
        "Errors": {
            "type": "object",
            "required": ["errors"],
            "additionalProperties": False,
            "properties": {"errors": {"type": "array", "minItems": 1, "items": ref("Error")}},
        },
    }


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response = {"description": description, "content": json_content(ref("Errors"))}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


RESPONSES = {
    "Unauthenticated": _error(
        "No API key, or not a valid one.",
        {"WWW-Authenticate": _header('Bearer realm="actions-gateway"')},
    ),
    "RateLimited": _error(
        "Over this API key's rate limit (RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_SECONDS).",
        {"Retry-After": _header("Seconds until a request will be allowed again.")},
    ),
    "NotFound": _error("There is no such object in your company."),
    "Refused": _error("Refused: every problem at once, each naming its field. Nothing stored."),
    "BadBody": _error("The body is not valid JSON, or not a JSON object."),
    "BodyTooLarge": _error(f"The body is over {MAX_BODY_BYTES} bytes."),
    "UnsupportedMediaType": _error("The body is not sent as application/json."),
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _paths() -> dict[str, Any]:
    # What any call may meet before its handler: no valid key, or over the key's rate limit.
    admission = {"401": response_ref("Unauthenticated"), "429": response_ref("RateLimited")}
    type_labels = [label for t in REGISTRY.values() for label in (t.name, t.type_name)]
    return {
        "/workflow/actions": {
            "get": {
                "operationId": "listActionTypes",
                "summary": "The action types and the data each needs",
                "responses": {
                    "200": {
                        "description": "The catalogue.",
                        "content": json_content(ref("Catalogue")),
                    },
                    **admission,
                },
            }
        },
        "/actions": {
            "get": {
                "operationId": "listActions",
                "summary": "Your company's actions, newest first",
                "parameters": [
                    _query(
                        "cursor",
                        "Where to go on from: the X-Next-Cursor of the previous page (the "
                        'Link rel="next" header holds the whole next URL).',
                        {"type": "string"},
                    ),
                    _query(
                        "per_page",
                        "How many actions a page holds (default 20).",
                        {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE},
                    ),
                    _query(
                        "status",
                        "Only actions in this status (any case).",
                        {"type": "string", "enum": [s.value for s in ActionStatus]},
                    ),
                    _query(
                        "type",
                        "Only actions of this type, by name (tag_app) or type name (TagApp).",
                        {"type": "string", "enum": type_labels},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of actions.",
                        "headers": {
                            "Link": _header('<next page URL>; rel="next", when there is one.'),
                            "X-Next-Cursor": _header("The cursor of the next page, if any."),
                        },
                        "content": json_content({"type": "array", "items": ref("Action")}),
                    },
                    **admission,
                    "422": response_ref("Refused"),
                },
            },
            "post": {
                "operationId": "createAction",
                "summary": "Create an action; it runs asynchronously",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Any unique string of yours (printable ASCII, at most "
                        "255 characters). A retry with the same key within 24 hours gets the "
                        "action the first call made (200, Idempotent-Replayed: true) instead "
                        "of a second one; the same key with another body is refused (422, "
                        "IDEMPOTENCY_KEY_REUSED).",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                ],
                "requestBody": {"required": True, "content": json_content(ref("CreateAction"))},
                "responses": {
                    "201": {
                        "description": "Stored and queued: executed_at is null until it has run.",
                        "headers": {"Location": _header("The action's URL, to poll.")},
                        "content": json_content(ref("Action")),
                    },
                    "200": {
                        "description": "An earlier call with this Idempotency-Key made this "
                        "action; nothing new was stored.",
                        "headers": {
                            "Location": _header("The action's URL, to poll."),
                            "Idempotent-Replayed": _header("true"),
                        },
                        "content": json_content(ref("Action")),
                    },
                    "400": response_ref("BadBody"),
                    **admission,
                    "413": response_ref("BodyTooLarge"),
                    "415": response_ref("UnsupportedMediaType"),
                    "422": response_ref("Refused"),
                },
            },
        },
        "/actions/{id}": {
            "get": {
                "operationId": "getAction",
                "summary": "An action: executed_at is set once it has run",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": ID}],
                "responses": {
                    "200": {"description": "The action.", "content": json_content(ref("Action"))},
                    **admission,
                    "404": response_ref("NotFound"),
                },
            }
        },
        **_trigger_paths(admission),
        "/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This description",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.0.",
                        "content": json_content({"type": "object"}),
                    },
                    **admission,
                },
            }
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Actions gateway REST API",
            "version": version("actions-gateway"),
            "description": "The vendor's workflow actions API: list the action types, create "
            "an action, poll it until executed_at is set. Every call needs "
            "Authorization: Bearer <api key>.",
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
            "responses": RESPONSES,
        },
    }


# Built from the registry, which is fixed once imported.
DOCUMENT = document()


@endpoint
async def openapi(request: Request, runtime: Runtime, company_id: int) -> Response:
    return JSONResponse(DOCUMENT)

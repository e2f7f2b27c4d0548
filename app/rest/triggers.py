"""Triggers over REST: the catalogue of events, and listing, creating and deleting triggers.

`GET /workflow/events` has the shape of the vendor's `GET /workflow/actions`: an array of
one-key objects. Trigger records follow the vendor's records: ids as strings, snake_case,
timestamps ending in Z.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.actions import REGISTRY
from app.actions.trigger_events import EVENT_KINDS, EventKind, can_fire, event_kind_named
from app.errors import ErrorCode, Problem, ValidationFailed
from app.models import Trigger
from app.rest.catalogue import field_entry
from app.rest.common import JSONResponse, endpoint, json_object, path_id, route, timestamp
from app.runtime import Runtime
from app.services import triggers
from app.services.actions import action_type_named

BODY_KEYS = ("event", "action_type", "data", "job_id")
REST_FIELDS = {"action_type": "action_type", "job_id": "job_id"}


def event_entry(kind: EventKind) -> dict[str, Any]:
    return {
        kind.name: {
            "description": kind.description,
            "supplied_data": {f.name: field_entry(f) for f in kind.supplies},
            "action_types": [t.name for t in REGISTRY.values() if can_fire(kind.event, t)],
        }
    }


def trigger_record(trigger: Trigger) -> dict[str, Any]:
    return {
        "id": str(trigger.id),
        "company_id": str(trigger.company_id),
        "event": EVENT_KINDS[trigger.event].name,
        "action_type": trigger.action_type,
        "data": trigger.data,
        "job_id": None if trigger.job_id is None else str(trigger.job_id),
        "created_at": timestamp(trigger.created_at),
    }


@endpoint
async def list_events(request: Request, _runtime: Runtime, _company_id: int) -> Response:
    kinds = list(EVENT_KINDS.values())
    type_name = request.query_params.get("action_type")
    if type_name is not None:
        action_type = action_type_named(type_name, "action_type")
        kinds = [k for k in kinds if can_fire(k.event, action_type)]
    return JSONResponse([event_entry(k) for k in kinds])


@endpoint
async def list_triggers(_request: Request, runtime: Runtime, company_id: int) -> Response:
    rows = await triggers.list_triggers(runtime, company_id)
    return JSONResponse([trigger_record(row) for row in rows])


def _parse_body(body: dict[str, Any]) -> tuple[EventKind, str, Any, int | None]:
    """The body's fields, or every problem with its shape at once."""
    allowed = ", ".join(BODY_KEYS)
    problems = [
        Problem(key[:60], f"unknown key {key[:60]!r} (allowed: {allowed})", ErrorCode.UNKNOWN_FIELD)
        for key in body
        if key not in BODY_KEYS
    ]
    for key in ("event", "action_type", "data"):
        if key not in body:
            problems.append(Problem(key, f"{key} is required", ErrorCode.REQUIRED))
    event, type_name = body.get("event"), body.get("action_type")
    kind = event_kind_named(event) if isinstance(event, str) else None
    if "event" in body and kind is None:
        names = ", ".join(k.name for k in EVENT_KINDS.values())
        problems.append(
            Problem("event", f"event must be one of: {names}", ErrorCode.INVALID_CHOICE)
        )
    if "action_type" in body and not isinstance(type_name, str):
        problems.append(
            Problem("action_type", "action_type must be a string", ErrorCode.INVALID_TYPE)
        )
    job_id = body.get("job_id")
    if isinstance(job_id, str) and job_id.isascii() and job_id.isdigit() and len(job_id) <= 18:
        job_id = int(job_id)
    if job_id is not None and (isinstance(job_id, bool) or not isinstance(job_id, int)):
        problems.append(Problem("job_id", "job_id must be an id or null", ErrorCode.INVALID_TYPE))
    if problems:
        raise ValidationFailed(problems)
    assert kind is not None and isinstance(type_name, str)
    return kind, type_name, body["data"], job_id


@endpoint
async def create_trigger(request: Request, runtime: Runtime, company_id: int) -> Response:
    kind, type_name, data, job_id = _parse_body(await json_object(request))
    trigger = await triggers.create_trigger(
        runtime, company_id, kind.event, type_name, data, job_id, fields=REST_FIELDS
    )
    return JSONResponse(trigger_record(trigger), status_code=201)


@endpoint
async def delete_trigger(request: Request, runtime: Runtime, company_id: int) -> Response:
    await triggers.delete_trigger(runtime, company_id, path_id(request))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    route("/workflow/events", get=list_events),
    route("/triggers", get=list_triggers, post=create_trigger),
    route("/triggers/{id}", name="trigger", delete=delete_trigger),
]

"""`/actions`: create an action, read one, list them, as records in the vendor's shape."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.actions import DataField, DataRequirements, find_action_type, type_name_of
from app.actions.validation import check_data
from app.errors import ErrorCode, Problem, ValidationFailed
from app.models import Action, ActionStatus
from app.rest.common import (
    JSONResponse,
    endpoint,
    integer_param,
    json_object,
    path_id,
    query_params,
    timestamp,
)
from app.runtime import Runtime
from app.services import actions

# The body of `POST /actions`, checked like action data so that its problems read the same.
CREATE_BODY = DataRequirements(
    required=(
        DataField("type", "string", "The action type's name, e.g. tag_app."),
        DataField("data", "object", "The data that the type's create_action requires."),
    )
)
LIST_PARAMS = ("cursor", "per_page", "status", "type")
# A client's retry of a create with the same key gets the first action (24 hours).
IDEMPOTENCY_KEY = "Idempotency-Key"
PAGE_ARGS = actions.PageArgs(size="per_page", after="cursor")


def action_record(action: Action) -> dict[str, Any]:
    """An action as the vendor's records show it, in their order, plus `status` and `error`."""
    return {
        "id": str(action.id),
        "company_id": str(action.company_id),
        "trigger_id": None if action.trigger_id is None else str(action.trigger_id),
        "type": type_name_of(action.type),
        "data": action.data,
        "executed_at": timestamp(action.executed_at),
        "created_at": timestamp(action.created_at),
        "updated_at": timestamp(action.updated_at),
        "status": ActionStatus(action.status).value,
        "error": action.error,
    }


@endpoint
async def create_action(request: Request, runtime: Runtime, company_id: int) -> Response:
    body = await json_object(request)
    problems = check_data(CREATE_BODY, body, path="")
    if problems:
        # Only stray keys beside a usable type and data: name the data's problems as well.
        if all(p.code is ErrorCode.UNKNOWN_FIELD for p in problems):
            problems += await actions.check_action(runtime, company_id, body["type"], body["data"])
        raise ValidationFailed(problems)
    created = await actions.create_or_replay(
        runtime,
        company_id,
        body["type"],
        body["data"],
        idempotency_key=request.headers.get(IDEMPOTENCY_KEY),
        key_field=IDEMPOTENCY_KEY,
    )
    action = created.action
    headers = {"Location": str(request.url_for("action", id=str(action.id)))}
    if created.replayed:
        # An earlier call with this key made it: the same record, and nothing new stored.
        return JSONResponse(
            action_record(action), headers={**headers, "Idempotent-Replayed": "true"}
        )
    return JSONResponse(action_record(action), status_code=201, headers=headers)


@endpoint
async def get_action(request: Request, runtime: Runtime, company_id: int) -> Response:
    action_id = path_id(request, noun="action")
    return JSONResponse(action_record(await actions.get_action(runtime, company_id, action_id)))


def _status(raw: str | None, problems: list[Problem]) -> ActionStatus | None:
    if raw is None:
        return None
    status = ActionStatus.__members__.get(raw.upper())
    if status is None:
        known = ", ".join(s.value for s in ActionStatus)
        problems.append(
            Problem(
                "status",
                f"status must be one of: {known} (got {raw[:60]!r})",
                ErrorCode.INVALID_CHOICE,
            )
        )
    return status


def _type(raw: str | None, problems: list[Problem]) -> str | None:
    """The type's name, given as its name (tag_app) or as records show it (TagApp)."""
    if raw is None:
        return None
    action_type = find_action_type(raw)
    if action_type is None:
        problems.append(actions.unknown_type(raw))
        return None
    return action_type.name


@endpoint
async def list_actions(request: Request, runtime: Runtime, company_id: int) -> Response:
    params = query_params(request, LIST_PARAMS)
    problems: list[Problem] = []
    per_page = integer_param(params, "per_page", problems)
    status = _status(params.get("status"), problems)
    type_name = _type(params.get("type"), problems)
    cursor = params.get("cursor")
    problems += actions.page_problems(per_page, cursor, PAGE_ARGS)
    if problems:
        raise ValidationFailed(problems)
    rows, has_next = await actions.list_actions(
        runtime,
        company_id,
        first=per_page,
        after=cursor,
        status=status,
        type_name=type_name,
        args=PAGE_ARGS,
    )
    headers: dict[str, str] = {}
    if has_next and rows:
        assert rows[-1].id is not None
        next_cursor = actions.encode_cursor(rows[-1].id)
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers = {"Link": f'<{next_url}>; rel="next"', "X-Next-Cursor": next_cursor}
    return JSONResponse([action_record(row) for row in rows], headers=headers)

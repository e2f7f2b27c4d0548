"""What every REST endpoint shares: authentication, JSON bodies, error bodies, the record format.

Errors are `{"errors": [{"field", "message", "code"}]}` with the same codes as GraphQL's
`UserError.code`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound, Problem, ValidationFailed
from app.runtime import Runtime
from app.services.api_keys import authenticate

MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[Request, Runtime, int], Awaitable[Response]]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def timestamp(value: datetime | None) -> str | None:
    """ISO-8601 in UTC ending in Z, to the second, as in the vendor's records."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RestError(Exception):
    """An error response: status, the `errors` list, and any headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = [{"field": field, "message": message, "code": code}]
        self.headers = headers or {}


def error_response(
    status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


def problems_response(problems: list[Problem], status: int = 422) -> JSONResponse:
    return error_response(
        status, [{"field": p.field, "message": p.message, "code": p.code.value} for p in problems]
    )


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a RestError saying what is wrong with it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise RestError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be JSON (application/json)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RestError(413, "BODY_TOO_LARGE", f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RestError(
                413, "BODY_TOO_LARGE", f"the body must be at most {MAX_BODY_BYTES} bytes"
            )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RestError(400, "INVALID_JSON", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RestError(400, "INVALID_BODY", "the body must be a JSON object")
    return value


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate the caller, run the handler, and turn refusals into error bodies."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        company_id = await authenticate(runtime.sessions, request.headers.get("authorization"))
        if company_id is None:
            return error_response(
                401,
                [
                    {
                        "field": None,
                        "message": "a valid API key is required: "
                        "send Authorization: Bearer <api key>",
                        "code": "UNAUTHENTICATED",
                    }
                ],
                headers={"WWW-Authenticate": 'Bearer realm="actions-gateway"'},
            )
        try:
            return await handler(request, runtime, company_id)
        except RestError as exc:
            return error_response(exc.status, exc.errors, exc.headers)
        except ValidationFailed as exc:
            return problems_response(exc.problems)
        except NotFound as exc:
            return error_response(404, [{"field": None, "message": str(exc), "code": "NOT_FOUND"}])

    return wrapped


def path_id(request: Request, name: str = "id") -> int:
    """An id from the path; one that cannot name a row is simply not found."""
    raw = str(request.path_params[name])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound(f"{raw[:40]!r} not found")
    return int(raw)

"""What every REST endpoint shares: authentication, JSON bodies, query parameters, error bodies.

Errors are `{"errors": [{"field", "message", "code"}]}` with the same codes as GraphQL's
`UserError.code` (`app.errors.ErrorCode`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.actions.base import MAX_ID
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.runtime import Runtime
from app.security.http import MAX_BODY_BYTES as MAX_BODY_BYTES  # one cap for every body
from app.security.http import BodyTooLarge, Refusal, admit, read_body

log = logging.getLogger(__name__)

# Where the REST routes are mounted.
PREFIX = "/api/v1"

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


def _shown(text: str) -> str:
    # Values come from the caller: never echo an unbounded one back.
    return text if len(text) <= 60 else text[:57] + "..."


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
        self.errors = [{"field": field, "message": message, "code": str(code)}]
        self.headers = headers or {}


def error_response(
    status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


def problems_response(problems: list[Problem], status: int = 422) -> JSONResponse:
    return error_response(
        status, [{"field": p.field, "message": p.message, "code": p.code.value} for p in problems]
    )


def _is_json(media_type: str) -> bool:
    # application/json, and the structured +json types of RFC 6839.
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    return "a number"


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a RestError saying what is wrong with it."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not _is_json(media_type):
        got = f"Content-Type {_shown(media_type)}" if media_type else "no Content-Type"
        raise RestError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"the body must be JSON, sent with Content-Type: application/json (got {got})",
        )
    try:
        body = await read_body(request)
    except BodyTooLarge:
        raise RestError(
            413, ErrorCode.BODY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes"
        ) from None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RestError(400, ErrorCode.INVALID_JSON, f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RestError(
            400, ErrorCode.INVALID_BODY, f"the body must be a JSON object, not {_kind(value)}"
        )
    return value


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Admit the caller (key, rate limit), run the handler, and turn refusals into error bodies."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        admitted = await admit(runtime, request.headers.get("authorization"))
        if isinstance(admitted, Refusal):
            return error_response(
                admitted.status,
                [{"field": None, "message": admitted.message, "code": admitted.code.value}],
                headers=dict(admitted.headers),
            )
        try:
            return await handler(request, runtime, admitted.company_id)
        except RestError as exc:
            return error_response(exc.status, exc.errors, exc.headers)
        except ValidationFailed as exc:
            return problems_response(exc.problems)
        except NotFound as exc:
            return error_response(
                404, [{"field": None, "message": str(exc), "code": ErrorCode.NOT_FOUND.value}]
            )

    return wrapped


def route(
    path: str, name: str | None = None, **handlers: Callable[[Request], Awaitable[Response]]
) -> Route:
    """One route per path, its handlers by method (`get=`, `post=`, ...), so that a 405 lists
    every method the path takes."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD wherever GET is allowed, with GET's headers.
        method = "GET" if request.method == "HEAD" else request.method
        return await by_method[method](request)

    return Route(path, dispatch, methods=list(by_method), name=name)


def path_id(request: Request, name: str = "id", noun: str | None = None) -> int:
    """An id from the path; one that cannot name a row is simply not found."""
    raw = str(request.path_params[name])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) > MAX_ID:
        raise NotFound(f"{noun or name} {_shown(raw)!r} not found")
    return int(raw)


def query_params(request: Request, allowed: Collection[str]) -> dict[str, str]:
    """The query's parameters; ValidationFailed naming each unknown, repeated or empty one."""
    found: dict[str, str] = {}
    problems: dict[str, Problem] = {}
    for name, value in request.query_params.multi_items():
        if name in problems:
            continue
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            problems[name] = Problem(
                _shown(name),
                f"unknown parameter {_shown(name)!r} (allowed: {known})",
                ErrorCode.UNKNOWN_FIELD,
            )
        elif name in found:
            problems[name] = Problem(name, f"{name} must be given once", ErrorCode.INVALID)
        elif not value:
            problems[name] = Problem(
                name, f"{name} must not be empty (leave it out instead)", ErrorCode.BLANK
            )
        else:
            found[name] = value
    if problems:
        raise ValidationFailed(list(problems.values()))
    return found


def integer_param(params: dict[str, str], name: str, problems: list[Problem]) -> int | None:
    """A parameter as an integer; None if absent, or with a problem added if not an integer."""
    raw = params.get(name)
    if raw is None:
        return None
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        problems.append(
            Problem(
                name, f"{name} must be an integer (got {_shown(raw)!r})", ErrorCode.INVALID_TYPE
            )
        )
        return None
    return int(raw)


class JSONErrors:
    """Errors met before or around an endpoint (no such route, a method it does not take, a
    crash) as error bodies too, so that every REST response is JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
            return
        except HTTPException as exc:
            if started:
                raise
            response = _http_error(Request(scope), exc)
        except Exception:
            if started:
                raise
            log.exception("unexpected error in %s %s", scope["method"], scope["path"])
            response = error_response(
                500,
                [
                    {
                        "field": None,
                        "message": "the gateway failed to handle this request; the error is logged",
                        "code": ErrorCode.INTERNAL.value,
                    }
                ],
            )
        await response(scope, receive, send)


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    path = _shown(request.url.path)
    if exc.status_code == 404:
        code, message = ErrorCode.NOT_FOUND, f"there is no endpoint at {path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        code = ErrorCode.METHOD_NOT_ALLOWED
        message = f"{request.method} is not allowed on {path} (allowed: {allowed})"
    else:
        code, message = ErrorCode.INVALID, exc.detail
    return error_response(
        exc.status_code,
        [{"field": None, "message": message, "code": code.value}],
        dict(exc.headers or {}),
    )

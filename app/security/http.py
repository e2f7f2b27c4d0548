"""Admitting an HTTP request: a live API key, within its rate limit, with a body of bounded size.

REST and GraphQL share the checks and render refusals each in its own error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import orjson
from starlette.responses import Response

from app.errors import ErrorCode
from app.security.rate_limit import Counted, RateLimitExceeded, check_rate
from app.services.api_keys import Principal, bearer_token, hash_key

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Message, Receive

    from app.runtime import Runtime

MAX_BODY_BYTES: Final = 64 * 1024
CHALLENGE: Final = 'Bearer realm="actions-gateway"'


@dataclass(frozen=True)
class Refusal:
    status: int
    code: ErrorCode
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


BODY_TOO_LARGE: Final = Refusal(
    413, ErrorCode.BODY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes"
)


def unauthenticated(authorization: str | None) -> Refusal:
    """401 with a challenge (RFC 6750) and a message saying what to send instead."""
    if authorization is None:
        message = "this call needs an API key: send the header Authorization: Bearer <api key>"
        challenge = CHALLENGE
    elif bearer_token(authorization) is None:
        message = "the Authorization header must be Bearer <api key>"
        challenge = f'{CHALLENGE}, error="invalid_request"'
    else:
        message = "the API key is not valid: it is mistyped or was revoked"
        challenge = f'{CHALLENGE}, error="invalid_token"'
    return Refusal(401, ErrorCode.UNAUTHENTICATED, message, {"WWW-Authenticate": challenge})


async def admit(runtime: Runtime, authorization: str | None) -> Principal | Refusal:
    """The caller's key if it is live and within its rate limit; else why not.

    A key this process read a moment ago is not read again (`TrustedKeys`): the Redis round
    trip that counts the request also says whether the key has been revoked since. Without
    that word from Redis, the key's row is read as on a first request.
    """
    token = bearer_token(authorization)
    if token is None:
        return unauthenticated(authorization)
    digest = hash_key(token)
    trusted = runtime.trusted_keys
    principal = trusted.get(digest)
    read = principal is None
    if principal is None:
        principal = await runtime.key_reads.submit(digest)
        if principal is None:
            return unauthenticated(authorization)
    try:
        counted = await check_rate(runtime.redis, runtime.settings, principal.key_id)
    except RateLimitExceeded as exc:
        return Refusal(429, ErrorCode.RATE_LIMITED, str(exc), {"Retry-After": str(exc.retry_after)})
    if counted is Counted.REVOKED:
        trusted.forget(digest)
        return unauthenticated(authorization)
    if counted is Counted.UNCHECKED:
        trusted.forget(digest)
        if not read and await runtime.key_reads.submit(digest) is None:
            return unauthenticated(authorization)
    elif read:
        trusted.put(digest, principal)
    return principal


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The whole body, refused (BodyTooLarge) as soon as it is known to exceed MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge
    return bytes(body)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then whatever the client sends next."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def graphql_error_response(refusal: Refusal) -> Response:
    """A refusal in GraphQL's shape: `{"errors": [{"message", "extensions": {"code"}}]}`."""
    extensions: dict[str, object] = {"code": refusal.code.value}
    if "Retry-After" in refusal.headers:
        extensions["retryAfter"] = int(refusal.headers["Retry-After"])
    body = {"errors": [{"message": refusal.message, "extensions": extensions}]}
    return Response(
        orjson.dumps(body),
        status_code=refusal.status,
        headers=dict(refusal.headers),
        media_type="application/json",
    )


async def admit_graphql(request: Request, runtime: Runtime) -> tuple[Principal, bytes] | Response:
    """Everything a GraphQL request over HTTP must pass before Strawberry parses it."""
    outcome = await admit(runtime, request.headers.get("authorization"))
    if isinstance(outcome, Refusal):
        return graphql_error_response(outcome)
    try:
        body = await read_body(request)
    except BodyTooLarge:
        return graphql_error_response(BODY_TOO_LARGE)
    if body.lstrip()[:1] == b"[":
        # A batch would multiply one request's work past every per-request limit.
        return graphql_error_response(
            Refusal(
                400, ErrorCode.BATCHING_DISABLED, "batching is off: send one operation per request"
            )
        )
    return outcome, body

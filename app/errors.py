"""Errors the service layer raises, with the stable codes that GraphQL and REST both render."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.StrEnum):
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    INVALID = "INVALID"  # the value is not of the expected shape (data not an object, ...)
    REQUIRED = "REQUIRED"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_TYPE = "INVALID_TYPE"
    BLANK = "BLANK"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID_CHOICE = "INVALID_CHOICE"
    NOT_FOUND = "NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    # About the HTTP request itself rather than what it asks for.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_JSON = "INVALID_JSON"
    INVALID_BODY = "INVALID_BODY"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INTERNAL = "INTERNAL"
    # Over a limit of the gateway's (app/security): rate, size, shape or time of a request.
    RATE_LIMITED = "RATE_LIMITED"
    BATCHING_DISABLED = "BATCHING_DISABLED"
    BAD_REQUEST = "BAD_REQUEST"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    TIMEOUT = "TIMEOUT"
    # A GraphQL document that does not parse, or does not fit the schema.
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    # A trigger's action would need a key that neither its data nor its event supplies.
    NOT_SUPPLIED = "NOT_SUPPLIED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # A company already has as many of something as one company may (triggers).
    LIMIT_REACHED = "LIMIT_REACHED"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: which field, what, and a code for programs."""

    field: str | None
    message: str
    code: ErrorCode


class ValidationFailed(Exception):
    """A request was refused; nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class NotFound(Exception):
    """The object does not exist in the caller's company (another company's is the same)."""


class PermanentActionError(Exception):
    """Executing an action cannot succeed however often it is tried (the app was deleted, ...)."""

"""How GraphQL errors leave the gateway: each with a `code`, internal ones masked and logged.

Every error of every result passes through `present` (see `GatewaySchema`), whichever path
produced it: a resolver, a validation rule, the parser, or an exception in between.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from graphql import GraphQLError, GraphQLSyntaxError

from app.errors import ErrorCode, ValidationFailed
from app.observability.context import current_request_id, new_request_id

log = logging.getLogger(__name__)

# graphql-core ends messages with " Did you mean 'x' or 'y'?": it tells a stranger the schema.
_SUGGESTION: Final = re.compile(r" Did you mean [^?]*\?$")
_TOKENS: Final = "Document contains more than"


def refused(exc: ValidationFailed) -> GraphQLError:
    """A top-level error for a refused argument of a query (mutations use payload errors)."""
    first = exc.problems[0]
    return GraphQLError(
        str(exc),
        extensions={
            "code": first.code.value,
            "problems": [
                {"field": p.field, "message": p.message, "code": p.code.value} for p in exc.problems
            ],
        },
    )


def is_internal(error: GraphQLError) -> bool:
    """An exception we did not mean to raise: anything that is not a GraphQLError of ours.

    Except where graphql-core wraps the exception of a value it could not read (a literal or
    variable that does not fit its type): that error points at the request's text and has no
    path, and it is the caller's mistake, not ours.
    """
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return error.path is not None or not error.nodes


def _code_for(error: GraphQLError) -> ErrorCode | None:
    if isinstance(error, GraphQLSyntaxError):
        if _TOKENS in error.message:
            return ErrorCode.TOO_MANY_TOKENS
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if error.path is None:
        # Raised before execution: a validation rule, or variables that do not fit.
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    return None


def present(error: GraphQLError, *, hide_suggestions: bool) -> GraphQLError:
    """The error as the client may see it."""
    if is_internal(error):
        # No message, stack or SQL leaves the server: only the request's id (also in its
        # X-Request-ID header and on each of its log lines) to find them in the log.
        request_id = current_request_id() or new_request_id()
        log.error(
            "internal error in a GraphQL request (request id %s) at %s",
            request_id,
            error.path,
            exc_info=error.original_error,
        )
        return GraphQLError(
            f"internal error; quote request id {request_id} when reporting it",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ErrorCode.INTERNAL.value, "requestId": request_id},
        )
    extensions = dict(error.extensions or {})
    message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
    if "code" not in extensions:
        code = _code_for(error)
        if code is not None:
            extensions["code"] = code.value
    if message == error.message and extensions == (error.extensions or {}):
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )

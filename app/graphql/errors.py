"""Turning service exceptions into GraphQL errors with a stable `code`."""

from __future__ import annotations

import logging

from graphql import GraphQLError

from app.errors import ValidationFailed

log = logging.getLogger(__name__)


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


def should_mask(error: GraphQLError) -> bool:
    """Hide what we did not mean to say: any exception that is not a GraphQLError of ours."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    log.error("unexpected error in a resolver", exc_info=original)
    return True

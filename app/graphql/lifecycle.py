"""Mutations on an action after its creation: cancel it while PENDING, retry it once FAILED."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.mutations import attempt, id_problem
from app.graphql.types import Action, UserError, parse_id
from app.services import lifecycle


@strawberry.type
class CancelActionPayload:
    action: Action | None
    errors: list[UserError]


@strawberry.type
class RetryActionPayload:
    action: Action | None
    errors: list[UserError]


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(
        description="Cancel a PENDING action: it becomes CANCELED and will not run. "
        "Any other status is refused with INVALID_STATE."
    )
    async def cancel_action(self, info: Info, id: strawberry.ID) -> CancelActionPayload:
        ctx = info.context
        action_id = parse_id(id)
        if action_id is None:
            return CancelActionPayload(action=None, errors=id_problem("id", id))
        row, errors = await attempt(
            lambda: lifecycle.cancel_action(ctx.runtime, ctx.company_id, action_id)
        )
        return CancelActionPayload(
            action=None if row is None else Action.from_model(row), errors=errors
        )

    @strawberry.mutation(
        description="Run a FAILED action again, with a fresh set of tries (attempts starts "
        "again from 0). Any other status is refused with INVALID_STATE."
    )
    async def retry_action(self, info: Info, id: strawberry.ID) -> RetryActionPayload:
        ctx = info.context
        action_id = parse_id(id)
        if action_id is None:
            return RetryActionPayload(action=None, errors=id_problem("id", id))
        row, errors = await attempt(
            lambda: lifecycle.retry_action(ctx.runtime, ctx.company_id, action_id)
        )
        return RetryActionPayload(
            action=None if row is None else Action.from_model(row), errors=errors
        )

"""Mutations on an action after its creation: cancel it while PENDING, retry it once FAILED."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app import models
from app.graphql.context import Info
from app.graphql.mutations import attempt, id_problem
from app.graphql.types import Action, UserError, parse_id
from app.runtime import Runtime
from app.services import lifecycle


@strawberry.type
class CancelActionPayload:
    action: Action | None
    errors: list[UserError]


@strawberry.type
class RetryActionPayload:
    action: Action | None
    errors: list[UserError]


# A lifecycle service call: (runtime, company id, action id) -> the changed action.
Change = Callable[[Runtime, int, int], Awaitable[models.Action]]


async def change_action(
    info: Info, id: strawberry.ID, change: Change
) -> tuple[Action | None, list[UserError]]:
    """Apply a lifecycle change to the caller's action; the payload's action and errors."""
    ctx = info.context
    action_id = parse_id(id)
    if action_id is None:
        return None, id_problem("id", id)
    row, errors = await attempt(lambda: change(ctx.runtime, ctx.company_id, action_id))
    return (None if row is None else Action.from_model(row)), errors


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(
        description="Cancel a PENDING action: it becomes CANCELED and will not run. "
        "Any other status is refused with INVALID_STATE."
    )
    async def cancel_action(self, info: Info, id: strawberry.ID) -> CancelActionPayload:
        action, errors = await change_action(info, id, lifecycle.cancel_action)
        return CancelActionPayload(action=action, errors=errors)

    @strawberry.mutation(
        description="Run a FAILED action again, with a fresh set of tries (attempts starts "
        "again from 0). Any other status is refused with INVALID_STATE."
    )
    async def retry_action(self, info: Info, id: strawberry.ID) -> RetryActionPayload:
        action, errors = await change_action(info, id, lifecycle.retry_action)
        return RetryActionPayload(action=action, errors=errors)

"""Subscription: live action changes, relayed from the event bus.

Each subscription starts listening before it reads any state, so no change can fall
between the read and the first event; versions drop events it has already shown.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from app.errors import ErrorCode, NotFound
from app.events import Resync
from app.graphql.context import Info
from app.graphql.types import Action, parse_id
from app.models import utcnow
from app.services import actions

# Another company's action is not found, as over every other path: never "forbidden".
NOT_FOUND = {"code": ErrorCode.NOT_FOUND.value}


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The action's current state at once, then every change; "
        "ends after EXECUTED, FAILED or CANCELED."
    )
    async def action(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Action, None]:
        ctx = info.context
        company_id, action_id = ctx.company_id, parse_id(id)
        if action_id is None:
            raise GraphQLError(f"action {str(id)[:40]!r} not found", extensions=NOT_FOUND)
        async with ctx.bus.listen(company_id) as events:
            try:
                current = await actions.get_action(ctx.runtime, company_id, action_id)
            except NotFound as exc:
                raise GraphQLError(str(exc), extensions=NOT_FOUND) from None
            yield Action.from_model(current)
            if current.status.is_final:
                return
            async for event in events:
                if isinstance(event, Resync):
                    latest = await actions.get_action(ctx.runtime, company_id, action_id)
                elif event.id == action_id and event.company_id == company_id:
                    latest = event
                else:
                    continue
                if latest.version > current.version:
                    current = latest
                    yield Action.from_model(current)
                    if current.status.is_final:
                        return

    @strawberry.subscription(description="Every change to your company's actions.")
    async def actions(self, info: Info) -> AsyncGenerator[Action, None]:
        ctx = info.context
        company_id = ctx.company_id
        async with ctx.bus.listen(company_id) as events:
            since = utcnow()
            async for event in events:
                if isinstance(event, Resync):
                    # Changes may have been missed: send what changed since the last one seen.
                    for row in await actions.changed_since(ctx.runtime, company_id, since):
                        yield Action.from_model(row)
                        since = row.updated_at
                elif event.company_id == company_id:
                    since = event.updated_at
                    yield Action.from_model(event)

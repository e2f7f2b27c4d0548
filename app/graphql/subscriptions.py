"""Subscription: live action changes, relayed from the event bus, with no gaps and no repeats.

Each subscription starts listening before it reads any state, so no change can fall between
the read and the first event. `actions` numbers every change (`sequence`, gapless per
company, in commit order): it sends them in order, fills a gap from the database, and drops
what it has sent; a client that reconnects with `after` gets what it missed. `action` uses the
action's own `version` the same way.

Over a WebSocket, `actions` also hands its listener a `DirectFeed` (app/graphql/fanout.py):
while the subscription waits, the next change in order goes straight to the socket, and the
subscription only wakes for what needs it (a gap, a resync, a socket that cannot take it).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from graphql import GraphQLError

from app import models
from app.errors import ErrorCode, NotFound
from app.events import Resync
from app.graphql.context import Context, Info
from app.graphql.fanout import (
    DirectFeed,
    Parked,
    current_route,
    graphql_action,
    subscription_executor,
    take_resumed,
)
from app.graphql.scalars import BigInt
from app.graphql.starts import started
from app.graphql.types import Action, parse_id
from app.services import actions

CATCH_UP_PAGE = 200
# Another company's action is not found, as over every other path: never "forbidden".
NOT_FOUND = {"code": ErrorCode.NOT_FOUND.value}


async def _changes_after(ctx: Context, company_id: int, after: int) -> AsyncIterator[models.Action]:
    """Every action changed after `after`, in sequence order, page by page."""
    while True:
        page = await actions.changes_after(ctx.runtime, company_id, after, CATCH_UP_PAGE)
        for row in page:
            yield row
            after = row.sequence
        if len(page) < CATCH_UP_PAGE:
            return


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The action's current state at once, then every change; ends after "
        "EXECUTED, FAILED or CANCELED. With `afterVersion` (the last version you saw), "
        "the current state is sent only if it is newer."
    )
    async def action(
        self, info: Info, id: strawberry.ID, after_version: int | None = None
    ) -> AsyncGenerator[Action, None]:
        ctx = info.context
        company_id, action_id = ctx.company_id, parse_id(id)
        if action_id is None:
            raise GraphQLError(f"action {str(id)[:40]!r} not found", extensions=NOT_FOUND)
        async with ctx.bus.listen(company_id) as events:
            try:
                latest = await actions.get_action(ctx.runtime, company_id, action_id)
            except NotFound as exc:
                raise GraphQLError(str(exc), extensions=NOT_FOUND) from None
            events.advance(latest.sequence)
            shown = 0 if after_version is None else after_version
            live = False  # whether `latest` is a published event, shared by its subscribers
            while True:
                if latest.version > shown:
                    shown = latest.version
                    yield graphql_action(latest) if live else Action.from_model(latest)
                if latest.status.is_final:
                    return
                started()  # set up: waiting for changes
                event = await anext(events)
                if isinstance(event, Resync):
                    try:
                        latest = await actions.get_action(ctx.runtime, company_id, action_id)
                    except NotFound:
                        return  # deleted by retention while watched
                    live = False
                elif event.id == action_id:
                    latest, live = event, True

    @strawberry.subscription(
        description="Every change to your company's actions, in order, each with its "
        "`sequence` number. With `after` (the last sequence you saw), first each action "
        "changed since then, in its current state, then live changes: none missed, none twice."
    )
    async def actions(
        self, info: Info, after: BigInt | None = None
    ) -> AsyncGenerator[Action, None]:
        ctx = info.context
        company_id = ctx.company_id
        # Taken before the first wait: all are set for this operation as it starts.
        route, executor = current_route.get(), subscription_executor(info.operation)
        async with ctx.bus.listen(company_id, resume=take_resumed()) as events:
            direct = events.direct
            if isinstance(direct, DirectFeed):
                # Woken from parked (see below): on from the last change sent, whichever way.
                last, catch_up = direct.last, False
            else:
                latest = await ctx.bus.latest_sequence(company_id)
                if after is not None and after > latest:
                    raise GraphQLError(
                        f"after: {after} is beyond the latest change ({latest})",
                        extensions={"code": ErrorCode.OUT_OF_RANGE.value},
                    )
                last = latest if after is None else after
                catch_up = after is not None
                if route is not None and executor is not None:
                    direct = events.direct = DirectFeed(route, executor)
            while True:
                if catch_up:
                    async for row in _changes_after(ctx, company_id, last):
                        last = row.sequence
                        yield Action.from_model(row)
                events.advance(last)
                if isinstance(direct, DirectFeed):
                    direct.last = last
                    # Nothing to send: wait on the bus without a task. The next change goes
                    # straight to the socket; anything else wakes this in a new task.
                    if events.empty() and direct.route.park(events):
                        raise Parked
                started()  # set up: waiting for changes
                event = await anext(events)
                if isinstance(direct, DirectFeed):
                    last = direct.last  # it may have sent changes while this waited
                # A gap: the missing changes are committed (numbers follow commit order).
                catch_up = isinstance(event, Resync) or event.sequence > last + 1
                if not isinstance(event, Resync) and event.sequence == last + 1:
                    last = event.sequence
                    yield graphql_action(event)

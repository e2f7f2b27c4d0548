"""Firing triggers: each event creates one action per matching trigger, exactly once.

An event row is claimed by a conditional update of `processed_at` in the same transaction
that stores the actions it fires, so a second delivery of the event finds it processed and
fires nothing; the unique (event_id, trigger_id) of actions guards the same rule again.
The actions are queued after the commit, like any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, update
from sqlmodel import col, select

from app.actions.trigger_events import MAX_TRIGGER_DEPTH, supplied_data
from app.errors import ValidationFailed
from app.models import Action, Trigger, WorkflowEvent, utcnow
from app.observability.context import bound
from app.queue import enqueue_event
from app.services.actions import action_type_named, dispatch, require_page, validate_data
from app.services.changes import stamp

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

log = logging.getLogger(__name__)

# An unprocessed event older than this with no job is queued again by the sweeper.
EVENT_GRACE = timedelta(seconds=5)
MAX_NOTE_LENGTH = 4000


@dataclass(frozen=True)
class Firing:
    """What one delivery of an event did: nothing if it had been processed already."""

    processed: bool
    actions: list[Action]
    skipped: list[str]


async def _claim(session: AsyncSession, event_id: int) -> WorkflowEvent | None:
    """Mark the event processed if no one has; on PostgreSQL this locks it until commit."""
    statement = (
        update(WorkflowEvent)
        .where(col(WorkflowEvent.id) == event_id, col(WorkflowEvent.processed_at).is_(None))
        .values(processed_at=utcnow())
        .returning(WorkflowEvent)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(statement)).one_or_none()


async def matching_triggers(session: AsyncSession, event: WorkflowEvent) -> list[Trigger]:
    """The company's live triggers on this kind of event (and its job), older than the event."""
    query = (
        select(Trigger)
        .where(
            col(Trigger.company_id) == event.company_id,
            col(Trigger.event) == event.kind,
            col(Trigger.deleted_at).is_(None),
            or_(col(Trigger.job_id).is_(None), col(Trigger.job_id) == event.job_id),
            col(Trigger.created_at) <= event.created_at,
        )
        .order_by(col(Trigger.id))
    )
    return list((await session.scalars(query)).all())


async def _action_for(session: AsyncSession, event: WorkflowEvent, trigger: Trigger) -> Action:
    """The action the trigger makes of the event; ValidationFailed if its data is not valid now."""
    action_type = action_type_named(trigger.action_type)
    data = {**supplied_data(event, action_type), **trigger.data}
    # The same checks as createAction: the app or job may have gone since the event.
    normalised = await validate_data(session, event.company_id, action_type.create_action, data)
    return Action(
        company_id=event.company_id,
        type=trigger.action_type,
        data=normalised,
        trigger_id=trigger.id,
        event_id=event.id,
        request_id=event.request_id,
    )


def _skip_reason(trigger: Trigger, reason: str) -> str:
    return f"trigger {trigger.id} ({trigger.action_type}) did not fire: {reason}"


async def fire_event(rt: Runtime, event_id: int) -> Firing:
    """Create the event's actions and mark it processed, in one transaction; then queue them."""
    created: list[Action] = []
    skipped: list[str] = []
    async with rt.sessions.begin() as session:
        event = await _claim(session, event_id)
        if event is None:
            return Firing(processed=False, actions=[], skipped=[])
        for trigger in await matching_triggers(session, event):
            if event.depth >= MAX_TRIGGER_DEPTH:
                skipped.append(
                    _skip_reason(
                        trigger,
                        f"this event comes at the end of a chain of {event.depth} triggered "
                        f"actions, the most allowed (MAX_TRIGGER_DEPTH = {MAX_TRIGGER_DEPTH})",
                    )
                )
                continue
            try:
                action = await _action_for(session, event, trigger)
            except ValidationFailed as refused:
                skipped.append(_skip_reason(trigger, str(refused)))
                continue
            session.add(action)
            created.append(action)
        # Numbered after they are inserted: the company's counter is the last lock taken.
        await session.flush()
        for action in created:
            await stamp(session, action)
        if skipped:
            note = "; ".join(skipped)
            event.note = (
                note if len(note) <= MAX_NOTE_LENGTH else note[: MAX_NOTE_LENGTH - 3] + "..."
            )
    with bound(request_id=event.request_id):
        for reason in skipped:
            log.info("event %s: %s", event_id, reason)
        await dispatch(rt, created)
    return Firing(processed=True, actions=created, skipped=skipped)


async def sweep_events(rt: Runtime) -> int:
    """Queue the events that were stored but never processed; how many were queued."""
    stale = utcnow() - EVENT_GRACE
    async with rt.reads() as session:
        ids = (
            await session.scalars(
                select(col(WorkflowEvent.id))
                .where(
                    col(WorkflowEvent.processed_at).is_(None),
                    col(WorkflowEvent.created_at) < stale,
                )
                .order_by(col(WorkflowEvent.id))
                .limit(1000)
            )
        ).all()
    queued = 0
    for event_id in ids:
        assert event_id is not None
        if await enqueue_event(rt.redis, event_id):
            queued += 1
    return queued


async def list_events(rt: Runtime, company_id: int, first: int) -> list[WorkflowEvent]:
    """The company's most recent events, newest first."""
    require_page(first)
    async with rt.reads() as session:
        rows = await session.scalars(
            select(WorkflowEvent)
            .where(col(WorkflowEvent.company_id) == company_id)
            .order_by(col(WorkflowEvent.id).desc())
            .limit(first)
        )
        return list(rows.all())


async def fired_actions(rt: Runtime, events: list[WorkflowEvent]) -> list[list[Action]]:
    """The actions each event's triggers created, oldest first, in one query for all."""
    found: dict[int | None, list[Action]] = {event.id: [] for event in events}
    if events:
        async with rt.reads() as session:
            rows = await session.scalars(
                select(Action).where(col(Action.event_id).in_(found)).order_by(col(Action.id))
            )
            for action in rows:
                found[action.event_id].append(action)
    return [found[event.id] for event in events]

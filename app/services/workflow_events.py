"""Recording events in the transaction of the change that caused them; queueing them after.

A writer calls `record_event` with its open session; once that session has committed, it
passes `recorded(session)` to `enqueue_events`. If the enqueue is lost, the sweeper finds the
unprocessed event in the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.models import Action, TriggerEvent, WorkflowEvent
from app.observability.context import current_request_id
from app.queue import enqueue_event

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from sqlalchemy.ext.asyncio import AsyncSession

_RECORDED = "workflow_events.recorded"


def recorded(session: AsyncSession) -> list[WorkflowEvent]:
    """The events recorded in this session so far: queue them once it has committed."""
    events: list[WorkflowEvent] = session.info.setdefault(_RECORDED, [])
    return events


async def record_event(
    session: AsyncSession,
    company_id: int,
    kind: TriggerEvent,
    *,
    job_id: int,
    app_id: int | None = None,
    cause: Action | None = None,
) -> WorkflowEvent:
    """Add an event to the session's transaction; `cause` is the action that made it happen."""
    depth = 0
    if cause is not None and cause.event_id is not None:
        # An action a trigger created: its event is one step further down the chain.
        causing = await session.get(WorkflowEvent, cause.event_id)
        depth = 0 if causing is None else causing.depth + 1
    event = WorkflowEvent(
        company_id=company_id,
        kind=kind,
        app_id=app_id,
        job_id=job_id,
        depth=depth,
        # The request being served, or in a worker the one behind the action being run.
        request_id=current_request_id(),
    )
    session.add(event)
    recorded(session).append(event)
    return event


async def enqueue_events(redis: ArqRedis, events: list[WorkflowEvent]) -> None:
    for event in events:
        assert event.id is not None, "queue events only after their transaction committed"
        await enqueue_event(redis, event.id)

"""Retention: finished actions older than ACTION_RETENTION_DAYS are deleted; effects stay.

A tag, note or notification outlives the action that made it: its reference to the action
is set to NULL in the transaction that deletes the action. The references are found in the
table metadata, so a table added later that points at actions is covered too.

Workflow events go by the same rule once processed and once no action they caused is left:
an event is only ever taken up again while unprocessed, so a processed one is history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Column, ColumnElement, Table, delete, exists, update
from sqlmodel import SQLModel, col, select

from app.models import Action, ActionStatus, WorkflowEvent, utcnow

if TYPE_CHECKING:
    from app.runtime import Runtime

FINISHED = (ActionStatus.EXECUTED, ActionStatus.FAILED, ActionStatus.CANCELED)
BATCH_SIZE = 500


@cache
def action_references() -> tuple[tuple[Table, Column[int]], ...]:
    """Every column that references an action: each must be nullable (effects outlive)."""
    found = []
    action_table = Action.__table__  # type: ignore[attr-defined]
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is action_table:
                column = fk.parent
                if not column.nullable:
                    raise TypeError(f"{table.name}.{column.name} must be nullable: see retention")
                found.append((table, column))
    return tuple(found)


@dataclass(frozen=True)
class Purged:
    actions: int = 0
    events: int = 0


async def _purge_batches(
    rt: Runtime,
    table: type[Action] | type[WorkflowEvent],
    old: ColumnElement[bool],
    deadline: float,
) -> int:
    """Delete the rows that are `old`, BATCH_SIZE per transaction, until none or the deadline."""
    purged = 0
    row_id = col(table.id)
    while time.monotonic() < deadline:
        async with rt.sessions.begin() as session:
            oldest = select(row_id).where(old).order_by(row_id).limit(BATCH_SIZE)
            ids = list((await session.scalars(oldest)).all())
            if not ids:
                break
            if table is Action:
                for ref_table, column in action_references():
                    await session.execute(
                        update(ref_table).where(column.in_(ids)).values({column: None})
                    )
            result = await session.execute(delete(table).where(row_id.in_(ids), old))
            purged += result.rowcount  # type: ignore[attr-defined]
        if len(ids) < BATCH_SIZE:
            break
    return purged


def _old_actions(cutoff: datetime) -> ColumnElement[bool]:
    return col(Action.status).in_(FINISHED) & (col(Action.updated_at) < cutoff)


def _old_events(cutoff: datetime) -> ColumnElement[bool]:
    caused = exists().where(col(Action.event_id) == col(WorkflowEvent.id))
    return (col(WorkflowEvent.processed_at) < cutoff) & ~caused


async def purge_finished(rt: Runtime, *, budget_seconds: float = 60.0) -> Purged:
    """Delete finished actions, then spent events, past retention, for about `budget_seconds`."""
    days = rt.settings.action_retention_days
    if days == 0:
        return Purged()
    cutoff = utcnow() - timedelta(days=days)
    deadline = time.monotonic() + budget_seconds
    # Actions first: an event goes only once no action it caused is left.
    purged_actions = await _purge_batches(rt, Action, _old_actions(cutoff), deadline)
    purged_events = await _purge_batches(rt, WorkflowEvent, _old_events(cutoff), deadline)
    return Purged(purged_actions, purged_events)

"""Retention: finished actions older than ACTION_RETENTION_DAYS are deleted; effects stay.

A tag, note or notification outlives the action that made it: its reference to the action
is set to NULL in the transaction that deletes the action. The references are found in the
table metadata, so a table added later that points at actions is covered too.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Column, Table, delete, update
from sqlmodel import SQLModel, col, select

from app.models import Action, ActionStatus, utcnow

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


async def purge_finished(rt: Runtime, *, budget_seconds: float = 60.0) -> int:
    """Delete finished actions past retention, in batches, for about `budget_seconds`."""
    days = rt.settings.action_retention_days
    if days == 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    old = col(Action.status).in_(FINISHED) & (col(Action.updated_at) < cutoff)
    deadline = time.monotonic() + budget_seconds
    purged = 0
    while time.monotonic() < deadline:
        async with rt.sessions.begin() as session:
            ids = list(
                (
                    await session.scalars(
                        select(col(Action.id)).where(old).order_by(col(Action.id)).limit(BATCH_SIZE)
                    )
                ).all()
            )
            if not ids:
                break
            for table, column in action_references():
                await session.execute(update(table).where(column.in_(ids)).values({column: None}))
            result = await session.execute(delete(Action).where(col(Action.id).in_(ids), old))
            purged += result.rowcount  # type: ignore[attr-defined]
        if len(ids) < BATCH_SIZE:
            break
    return purged

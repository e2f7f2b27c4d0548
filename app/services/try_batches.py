"""Many tries in one transaction: the claims that queued up together, or the effects.

A worker runs up to WORKER_MAX_JOBS tries at once. Each would claim its action in a
transaction of its own, then write its effect and EXECUTED in another; on SQLite (one writer)
those queue for the one connection, on PostgreSQL each commit waits for the disk and for the
company's change counter. Here the claims that are waiting are written in one transaction,
and so are the effects, with the same conditions row by row, so that the exactly-once rules
of `app/services/claims.py` hold as they do for a try alone.

One try's failing effect must not cost the others theirs. The first pass runs the effects
back to back; if one fails (or their writes do), the transaction is rolled back and the tries
run again, each in a savepoint of its own, so that a failure costs only its own savepoint.
If that batch fails as a whole (the commit, the database gone), each try runs alone.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlmodel import col

from app import faults
from app.actions import get_action_type
from app.errors import PermanentActionError
from app.faults import Fault
from app.models import Action, utcnow
from app.observability.context import bound
from app.services.changes import stamp_all, update_all, update_if
from app.services.claims import (
    claim_values,
    claimable,
    executed_values,
    held_by,
    held_by_any,
    row_id,
)
from app.services.workflow_events import recorded

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import WorkflowEvent
    from app.runtime import Runtime


class Applied(enum.Enum):
    LOST = "lost"  # the claim was gone (another try holds the action, or it was handed back)
    ALONE = "alone"  # the batch failed as a whole: run this try in a transaction of its own


# Per try: its EXECUTED row (committed), how it ended otherwise, or the error of its effect.
ApplyResult = Action | Applied | BaseException


async def claim_batch(rt: Runtime, ids: list[int]) -> list[Action | None]:
    """Claim each action that is free: its claimed row, or None (as `claim` for one)."""
    now = utcnow()
    async with rt.sessions.begin() as session:
        rows = await update_all(
            session,
            col(Action.id).in_(set(ids)) & claimable(rt.settings, now),
            **claim_values(rt.settings, now),
        )
        await stamp_all(session, rows)
    by_id = {row_id(row): row for row in rows}
    # A job delivered twice into one batch: the first delivery holds the claim.
    return [by_id.pop(action_id, None) for action_id in ids]


class _EffectFailed(Exception):
    def __init__(self, action_id: int, error: Exception) -> None:
        super().__init__(str(error))
        self.action_id = action_id
        self.error = error


async def _execute(session: AsyncSession, row: Action) -> None:
    action_type = get_action_type(row.type)
    assert action_type is not None, "unknown types are failed before the batch"
    # Events the effect records carry the request behind the action, as for a try alone.
    with bound(request_id=row.request_id, action_id=row_id(row)):
        await action_type.execute(session, row)


def _keep_loaded(session: AsyncSession) -> list[object]:
    """Hold every row the session loads until the batch ends: the identity map holds rows
    weakly, and the effects of a batch often read the same app or job one after another."""
    kept: list[object] = []
    event.listen(session.sync_session, "loaded_as_persistent", lambda _, row: kept.append(row))
    return kept


async def _fast(rt: Runtime, claimed: list[Action]) -> tuple[list[Action], list[WorkflowEvent]]:
    async with rt.sessions.begin() as session:
        _keep_loaded(session)
        # The conditional update comes first: on PostgreSQL it locks the rows, so a racing
        # try waits for this commit and then finds the claim gone.
        done = await update_all(session, held_by_any(claimed), **executed_values())
        done.sort(key=row_id)
        # The effects' rows are written together at the end (one INSERT per table). The
        # session's identity map still shows each effect what the ones before it changed;
        # two inserting the same unique key fail the flush, and the careful pass sorts it out.
        with session.no_autoflush:
            for row in done:
                try:
                    await _execute(session, row)
                except Exception as exc:
                    raise _EffectFailed(row_id(row), exc) from exc
        await session.flush()
        await stamp_all(session, done)
        faults.crash_if(Fault.CRASH_BEFORE_COMMIT)
    return done, recorded(session)


async def _careful(
    rt: Runtime, claimed: list[Action], failed: dict[int, BaseException]
) -> tuple[list[Action], list[WorkflowEvent]]:
    """Each try in a savepoint: a failing effect (recorded in `failed`) undoes only its own."""
    async with rt.sessions.begin() as session:
        _keep_loaded(session)
        done: list[Action] = []
        events = recorded(session)
        for action in claimed:
            before = len(events)
            try:
                async with session.begin_nested():
                    row = await update_if(
                        session, row_id(action), held_by(action), **executed_values()
                    )
                    if row is not None:
                        await _execute(session, row)
            except Exception as exc:
                failed[id(action)] = exc
                del events[before:]  # rolled back with its savepoint
                continue
            if row is not None:
                done.append(row)
        await stamp_all(session, done)
        faults.crash_if(Fault.CRASH_BEFORE_COMMIT)
    return done, events


async def apply_batch(
    rt: Runtime, claimed: list[Action]
) -> tuple[list[ApplyResult], list[WorkflowEvent]]:
    """Effects and EXECUTED for these claimed rows, each only while its try holds its claim;
    a result per row, and the workflow events the effects recorded, to queue after."""
    failed: dict[int, BaseException] = {}  # by id() of the claimed row
    todo: list[Action] = []
    for action in claimed:
        if get_action_type(action.type) is None:
            failed[id(action)] = PermanentActionError(
                f"action type {action.type!r} is no longer known"
            )
        else:
            todo.append(action)
    done: list[Action] = []
    events: list[WorkflowEvent] = []
    alone = False
    careful = False
    while todo:
        try:
            async with asyncio.timeout(rt.settings.action_timeout_seconds):
                if careful:
                    done, events = await _careful(rt, todo, failed)
                else:
                    done, events = await _fast(rt, todo)
        except _EffectFailed as exc:
            # Rolled back: the failing try has its error, the others run again, carefully.
            culprit = next(a for a in todo if row_id(a) == exc.action_id)
            failed[id(culprit)] = exc.error
            todo = [a for a in todo if a is not culprit]
            careful = True
            continue
        except Exception as exc:
            if not careful and len(todo) > 1:
                careful = True  # whose write failed the flush? Each in its own savepoint
                continue
            if len(todo) == 1:
                failed[id(todo[0])] = exc
            else:
                alone = True
        break
    held = {(row_id(row), row.attempts): row for row in done}
    results: list[ApplyResult] = []
    for action in claimed:
        if id(action) in failed:
            results.append(failed[id(action)])
        elif alone:
            results.append(Applied.ALONE)
        else:
            results.append(held.get((row_id(action), action.attempts), Applied.LOST))
    return results, events

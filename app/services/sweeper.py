"""The sweeper: no action stays PENDING or RUNNING forever.

Every worker sweeps when it starts and every SWEEP_INTERVAL_SECONDS (arq runs each tick once,
however many workers there are). A sweep finds the actions that no try is working on: PENDING
and overdue with no job queued (Redis was down when they were created, or lost its queue), and
RUNNING past their lease (the worker died). It queues each again, or, if its tries are spent,
fails it with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import col

from app.models import Action, ActionStatus, utcnow
from app.observability.context import bound
from app.queue import enqueue_action, job_id, queued
from app.services.changes import transition
from app.services.claims import lapsed
from app.services.execution import finished
from app.services.firing import sweep_events

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

# A PENDING action is left this long to the job its creator (or last try) queued.
PENDING_GRACE = timedelta(seconds=2)
PAGE_SIZE = 500


@dataclass(frozen=True)
class SweepReport:
    queued: int
    failed: int
    events_queued: int = 0


@dataclass(frozen=True)
class _Stray:
    id: int
    version: int
    attempts: int
    status: ActionStatus
    error: str | None


def overdue(now: datetime) -> ColumnElement[bool]:
    """PENDING, and its try should have started a while ago."""
    since = func.coalesce(col(Action.next_try_at), col(Action.updated_at))
    return (col(Action.status) == ActionStatus.PENDING) & (since < now - PENDING_GRACE)


async def sweep(rt: Runtime) -> SweepReport:
    """Queue the actions that no try is working on, and events never fired; fail spent actions."""
    now = utcnow()
    stray = or_(overdue(now), lapsed(now))
    report = SweepReport(0, 0)
    after = 0
    while True:
        async with rt.reads() as session:
            result = await session.execute(
                select(
                    col(Action.id),
                    col(Action.version),
                    col(Action.attempts),
                    col(Action.status),
                    col(Action.error),
                )
                .where(stray, col(Action.id) > after)
                .order_by(col(Action.id))
                .limit(PAGE_SIZE)
            )
            rows = [
                _Stray(id_, version, attempts, status, error)
                for id_, version, attempts, status, error in result.all()
                if id_ is not None
            ]
        if not rows:
            break
        spent = [r for r in rows if r.attempts >= rt.settings.action_max_tries]
        failed = 0
        for row in spent:
            failed += await _give_up(rt, row, stray)
        requeued = await _requeue([r for r in rows if r not in spent], rt)
        report = SweepReport(report.queued + requeued, report.failed + failed)
        if len(rows) < PAGE_SIZE:
            break
        after = rows[-1].id
    # Trigger events stored but never fired are the same kind of stray.
    return SweepReport(report.queued, report.failed, await sweep_events(rt))


async def _give_up(rt: Runtime, row: _Stray, stray: ColumnElement[bool]) -> bool:
    if row.status is ActionStatus.RUNNING:
        reason = "the last try did not finish in time"
    else:
        reason = row.error or "no try finished"
    async with rt.sessions.begin() as session:
        failed = await transition(
            session,
            row.id,
            stray & (col(Action.version) == row.version),
            status=ActionStatus.FAILED,
            lease_expires_at=None,
            next_try_at=None,
            error=f"gave up after {row.attempts} tries: {reason}"[:1000],
        )
    if failed is None:
        return False
    with bound(request_id=failed.request_id, action_id=row.id):
        await finished(rt, failed)
    return True


async def _requeue(rows: list[_Stray], rt: Runtime) -> int:
    """Queue a job for each row that has none; jobs are named by the row's version."""
    try:
        present = await queued(rt.redis, [job_id(r.id, r.version) for r in rows])
    except (RedisError, OSError) as exc:
        log.warning("sweep cannot reach Redis (%s); the next one will try again", exc)
        return 0
    count = 0
    for row, exists in zip(rows, present, strict=True):
        if not exists and await enqueue_action(rt.redis, row.id, row.version):
            count += 1
    return count

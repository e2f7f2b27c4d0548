"""Running actions: claim, apply the effect exactly once, or fail; and sweeping up strays.

The action row is the outbox. A try starts by claiming the row (a conditional update that
bumps `attempts` and sets a lease); the effect and the EXECUTED status are then written in
one transaction that only commits if this try still holds the claim. Whatever crashes, the
row says what is left to do, and the sweeper queues it again.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import col, select

from app.actions import get_action_type
from app.errors import PermanentActionError
from app.events import publish_action
from app.models import Action, ActionStatus, utcnow
from app.observability.action_metrics import record_outcome
from app.observability.context import bound
from app.queue import enqueue_action
from app.services.firing import sweep_events
from app.services.workflow_events import enqueue_events, recorded

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

log = logging.getLogger(__name__)

# Errors that say "not now" rather than "never": the try is retried with backoff.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    IntegrityError,  # a concurrent writer won a unique index; the retry sees its row
    PoolTimeout,
    TimeoutError,
    ConnectionError,
    RedisError,
)

# A PENDING action older than this with no job is queued again by the sweeper.
PENDING_GRACE = timedelta(seconds=5)
LEASE_MARGIN = timedelta(seconds=5)
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0


class Outcome(enum.StrEnum):
    EXECUTED = "executed"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"  # not ours to run: finished, canceled, or held by another try


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    retry_in: float = 0.0


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter around it, so that retries do not stampede."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** max(attempts - 1, 0))
    jitter: float = random.uniform(0.5, 1.5)
    return ceiling * jitter


def _lapsed(now: datetime) -> ColumnElement[bool]:
    return (col(Action.status) == ActionStatus.RUNNING) & (col(Action.lease_expires_at) < now)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(col(Action.status) == ActionStatus.PENDING, _lapsed(now))


async def _transition(
    session: AsyncSession, action_id: int, condition: ColumnElement[bool], **values: Any
) -> Action | None:
    """Apply `values` if `condition` holds; the updated row, or None if it did not hold."""
    now = utcnow()
    statement = (
        update(Action)
        .where(col(Action.id) == action_id, condition)
        .values(**{"updated_at": now, **values}, version=col(Action.version) + 1)
        .returning(Action)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(statement)).one_or_none()


def row_id(action: Action) -> int:
    assert action.id is not None, "a stored action has an id"
    return action.id


def _held_by(action: Action) -> ColumnElement[bool]:
    return (col(Action.status) == ActionStatus.RUNNING) & (col(Action.attempts) == action.attempts)


async def claim(rt: Runtime, action_id: int) -> Action | None:
    now = utcnow()
    lease = now + timedelta(seconds=rt.settings.action_timeout_seconds) + LEASE_MARGIN
    async with rt.sessions.begin() as session:
        return await _transition(
            session,
            action_id,
            _claimable(now),
            status=ActionStatus.RUNNING,
            attempts=col(Action.attempts) + 1,
            lease_expires_at=lease,
        )


async def _apply(rt: Runtime, claimed: Action) -> Action | None:
    """Effect and EXECUTED in one transaction, only while this try holds the claim."""
    action_type = get_action_type(claimed.type)
    if action_type is None:
        raise PermanentActionError(f"action type {claimed.type!r} is no longer known")
    async with rt.sessions.begin() as session:
        # The conditional update comes first: on PostgreSQL it locks the row, so a racing
        # try waits here and then finds the claim gone.
        done = await _transition(
            session,
            row_id(claimed),
            _held_by(claimed),
            status=ActionStatus.EXECUTED,
            # The same instant for both, as in the vendor's records.
            executed_at=(executed_at := utcnow()),
            updated_at=executed_at,
            lease_expires_at=None,
            error=None,
        )
        if done is None:
            return None
        await action_type.execute(session, done)
    # Events the effect caused (a job's status changed) committed with it; now fire them.
    await enqueue_events(rt.redis, recorded(session))
    return done


async def _finish(rt: Runtime, claimed: Action, status: ActionStatus, error: str) -> Action | None:
    async with rt.sessions.begin() as session:
        return await _transition(
            session,
            row_id(claimed),
            _held_by(claimed),
            status=status,
            lease_expires_at=None,
            error=error[:1000],
        )


async def run_action(rt: Runtime, action_id: int) -> RunResult:
    """One try of an action, as the worker runs it for each delivered job."""
    claimed = await claim(rt, action_id)
    if claimed is None:
        log.debug("action %s skipped: finished, canceled or held by another try", action_id)
        return RunResult(Outcome.SKIPPED)
    # This try's log lines carry the id of the request that created the action.
    with bound(request_id=claimed.request_id, action_id=action_id):
        return await _try(rt, claimed)


async def _finished(rt: Runtime, row: Action) -> None:
    """Announce a final state: to subscribers, to the fleet's counters, and in the log."""
    await publish_action(rt.redis, row)
    await record_outcome(rt.redis, row)
    if row.status is ActionStatus.EXECUTED:
        log.info("action %s executed on try %s", row.id, row.attempts, extra=_fields(row))
    else:
        log.warning("action %s %s: %s", row.id, row.status.value, row.error, extra=_fields(row))


def _fields(row: Action) -> dict[str, Any]:
    return {"action_type": row.type, "status": row.status.value, "attempts": row.attempts}


async def _try(rt: Runtime, claimed: Action) -> RunResult:
    action_id = row_id(claimed)
    log.info("action %s try %s started", action_id, claimed.attempts, extra=_fields(claimed))
    await publish_action(rt.redis, claimed)
    max_tries = rt.settings.action_max_tries
    try:
        done = await _apply(rt, claimed)
    except PermanentActionError as exc:
        return await _settle(rt, claimed, ActionStatus.FAILED, str(exc))
    except TRANSIENT_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if claimed.attempts >= max_tries:
            return await _settle(
                rt,
                claimed,
                ActionStatus.FAILED,
                f"gave up after {claimed.attempts} tries: {reason}",
            )
        log.warning("action %s try %s failed, will retry: %s", action_id, claimed.attempts, reason)
        await _settle(rt, claimed, ActionStatus.PENDING, reason)
        return RunResult(Outcome.RETRY, backoff_seconds(claimed.attempts))
    except Exception as exc:
        # A bug, not a condition: retrying would repeat it. Fail visibly; details in the log.
        log.exception("action %s failed with an unexpected error", action_id)
        return await _settle(
            rt, claimed, ActionStatus.FAILED, f"internal error ({type(exc).__name__})"
        )
    if done is None:
        return RunResult(Outcome.SKIPPED)
    await _finished(rt, done)
    return RunResult(Outcome.EXECUTED)


async def _settle(rt: Runtime, claimed: Action, status: ActionStatus, error: str) -> RunResult:
    try:
        row = await _finish(rt, claimed, status, error)
    except TRANSIENT_ERRORS as exc:
        # The database is away: the lease lapses and the sweeper takes the action up again.
        log.warning("could not record the outcome of action %s: %s", claimed.id, exc)
        return RunResult(Outcome.RETRY, backoff_seconds(claimed.attempts))
    if row is not None:
        if row.status.is_final:
            await _finished(rt, row)
        else:
            await publish_action(rt.redis, row)
    if status is ActionStatus.PENDING:
        return RunResult(Outcome.RETRY, backoff_seconds(claimed.attempts))
    return RunResult(Outcome.FAILED if row is not None else Outcome.SKIPPED)


@dataclass(frozen=True)
class SweepReport:
    queued: int
    failed: int
    events_queued: int = 0


async def sweep(rt: Runtime) -> SweepReport:
    """Queue actions that have no live try, and events never fired; fail spent actions."""
    now = utcnow()
    max_tries = rt.settings.action_max_tries
    stale_pending = (col(Action.status) == ActionStatus.PENDING) & (
        col(Action.updated_at) < now - PENDING_GRACE
    )
    lapsed = _lapsed(now)
    async with rt.sessions() as session:
        rows = (
            await session.execute(
                select(col(Action.id), col(Action.attempts), col(Action.status))
                .where(or_(stale_pending, lapsed))
                .order_by(col(Action.id))
                .limit(1000)
            )
        ).all()
    queued = failed = 0
    for action_id, attempts, status in rows:
        assert action_id is not None
        if status is ActionStatus.RUNNING and attempts >= max_tries:
            async with rt.sessions.begin() as session:
                row = await _transition(
                    session,
                    action_id,
                    lapsed & (col(Action.attempts) == attempts),
                    status=ActionStatus.FAILED,
                    lease_expires_at=None,
                    error=f"gave up after {attempts} tries: the last try did not finish in time",
                )
            if row is not None:
                failed += 1
                with bound(request_id=row.request_id, action_id=action_id):
                    await _finished(rt, row)
            continue
        # arq refuses a job id that is already queued or running: this only fills gaps.
        if await enqueue_action(rt.redis, action_id):
            queued += 1
    return SweepReport(queued, failed, await sweep_events(rt))

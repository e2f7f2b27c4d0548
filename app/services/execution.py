"""Running one try of an action: claim it, apply its effect exactly once, or record why not.

The action row is the outbox. A try starts by claiming the row: a conditional update that
bumps `attempts` and sets a lease. The effect and the EXECUTED status are then written in
one transaction that commits only while this try still holds the claim (RUNNING, with this
try's `attempts`), and effect rows carry a unique reference to their action. Whatever
crashes, the row says what is left to do; `app/services/sweeper.py` queues it again.

arq delivers a job at least once and only retries on its own `Retry`; so a transient failure
puts the action back to PENDING with a `next_try_at` and queues the next try itself, and the
row, not arq, counts the tries.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from app import faults
from app.actions import get_action_type
from app.errors import PermanentActionError
from app.events import channel, encode_action, publish_action
from app.faults import Fault
from app.models import Action, ActionStatus, utcnow
from app.observability.action_metrics import add_increments, outcome_fields, record_outcome
from app.observability.context import bound
from app.queue import enqueue_action
from app.services.batching import Batcher
from app.services.changes import stamp, transition, update_if
from app.services.claims import (
    LEASE_MARGIN,
    executed_values,
    held_by,
    lapsed,
    row_id,
)
from app.services.retry_policy import backoff_seconds, describe, is_transient
from app.services.try_batches import Applied, ApplyResult, apply_batch, claim_batch
from app.services.workflow_events import enqueue_events, recorded

if TYPE_CHECKING:
    from app.models import WorkflowEvent
    from app.runtime import Runtime

__all__ = ["LEASE_MARGIN", "lapsed"]

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the worker stopped before this try finished"
# Claims, or effects, that queued up together share a transaction; at most this many.
MAX_BATCH = 200


class Outcome(enum.StrEnum):
    EXECUTED = "executed"
    FAILED = "failed"
    RETRY = "retry"  # the next try is queued (after a backoff)
    REDELIVER = "redeliver"  # the database could not be reached to claim: run this job later
    ABANDONED = "abandoned"  # the outcome could not be recorded; the lease lapses, the sweeper
    SKIPPED = "skipped"  # not ours to run: finished, canceled, waiting, or held by another try


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    retry_in: float = 0.0


@dataclass
class TryBatches:
    """A process's batchers of claims and of effects (`app/services/try_batches.py`)."""

    claims: Batcher[int, Action | None]
    effects: Batcher[Action, ApplyResult]

    async def idle(self) -> None:
        await self.claims.idle()
        await self.effects.idle()


def _batches(rt: Runtime) -> TryBatches:
    if rt.try_batches is None:

        async def claims(ids: list[int]) -> list[Action | None]:
            rows = await claim_batch(rt, ids)
            await _publish_all(rt, [row for row in rows if row is not None])
            return rows

        async def effects(claimed: list[Action]) -> list[ApplyResult]:
            results, events = await apply_batch(rt, claimed)
            done = [r for r in results if isinstance(r, Action)]
            if done:
                faults.crash_if(Fault.CRASH_AFTER_COMMIT)
                # Events the effects caused (a job's status changed) committed with them.
                await enqueue_events(rt.redis, events)
                await _announce_all(rt, done)
            return results

        async def orphaned_claim(_: int, claimed: Action | None) -> None:
            # Its try was cancelled (the worker is stopping) while the claim committed.
            if claimed is not None:
                await _hand_back(rt, claimed)

        rt.try_batches = TryBatches(
            Batcher(claims, max_size=MAX_BATCH, orphaned=orphaned_claim),
            Batcher(effects, max_size=MAX_BATCH),
        )
    return rt.try_batches


async def _apply(rt: Runtime, claimed: Action) -> tuple[Action | None, list[WorkflowEvent]]:
    """A try alone: effect and EXECUTED in one transaction, only while it holds the claim;
    and the workflow events the effect recorded, to queue once it has committed."""
    action_type = get_action_type(claimed.type)
    if action_type is None:
        raise PermanentActionError(f"action type {claimed.type!r} is no longer known")
    async with rt.sessions.begin() as session:
        # The conditional update comes first: on PostgreSQL it locks the row, so a racing
        # try waits here and then finds the claim gone.
        done = await update_if(session, row_id(claimed), held_by(claimed), **executed_values())
        if done is None:
            return None, []
        await action_type.execute(session, done)
        await stamp(session, done)
        await session.flush()
        faults.crash_if(Fault.CRASH_BEFORE_COMMIT)
    return done, recorded(session)


async def _record(
    rt: Runtime,
    claimed: Action,
    status: ActionStatus,
    error: str,
    next_try_at: datetime | None = None,
) -> Action | None:
    """End this try as `status`, if it still holds the claim."""
    async with rt.sessions.begin() as session:
        return await transition(
            session,
            row_id(claimed),
            held_by(claimed),
            status=status,
            lease_expires_at=None,
            next_try_at=next_try_at,
            error=error[:1000],
        )


async def run_action(rt: Runtime, action_id: int) -> RunResult:
    """One try of an action, as the worker runs it for each delivered job."""
    try:
        # With the claims of the other tries that are starting now, in one transaction.
        claimed = await _batches(rt).claims.submit(action_id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        # Nothing was written: run this same job again a little later.
        log.warning("could not claim action %s: %s", action_id, describe(exc))
        return RunResult(Outcome.REDELIVER, _backoff(rt, 1))
    if claimed is None:
        log.debug(
            "action %s skipped: finished, canceled, waiting or held by another try", action_id
        )
        return RunResult(Outcome.SKIPPED)
    # This try's log lines carry the id of the request that created the action.
    with bound(request_id=claimed.request_id, action_id=action_id):
        # Its RUNNING state was published with the batch of claims.
        log.info("action %s try %s started", action_id, claimed.attempts, extra=_fields(claimed))
        try:
            return await _attempt(rt, claimed)
        except asyncio.CancelledError:
            # The worker is stopping and could not wait: hand the action back now rather
            # than leave it RUNNING until its lease lapses. Shielded, so that it completes.
            await asyncio.shield(_hand_back(rt, claimed))
            raise


async def finished(rt: Runtime, row: Action) -> None:
    """Announce a final state: to subscribers, to the fleet's counters, and in the log."""
    await publish_action(rt.redis, row)
    await record_outcome(rt.redis, row)
    _log_final(row)


def _log_final(row: Action) -> None:
    if row.status is ActionStatus.EXECUTED:
        log.info("action %s executed on try %s", row.id, row.attempts, extra=_fields(row))
    else:
        log.warning("action %s %s: %s", row.id, row.status.value, row.error, extra=_fields(row))


async def _publish_all(rt: Runtime, rows: list[Action], *, count: bool = False) -> None:
    """Publish committed changes (and count final states) in one round trip to Redis."""
    if not rows:
        return
    try:
        # A transaction, so that a histogram's buckets, count and sum never disagree.
        async with rt.redis.pipeline(transaction=count) as pipe:
            for row in rows:
                pipe.publish(channel(row.company_id), encode_action(row))
                if count:
                    add_increments(pipe, outcome_fields(row))
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("could not publish the changes of %s actions: %s", len(rows), exc)


async def _announce_all(rt: Runtime, rows: list[Action]) -> None:
    """`finished` for many rows, with one round trip to Redis."""
    await _publish_all(rt, rows, count=True)
    for row in rows:
        with bound(request_id=row.request_id, action_id=row_id(row)):
            _log_final(row)


def _fields(row: Action) -> dict[str, Any]:
    return {"action_type": row.type, "status": row.status.value, "attempts": row.attempts}


async def _attempt(rt: Runtime, claimed: Action) -> RunResult:
    await faults.pause_if(Fault.PAUSE_BEFORE_EFFECT, row_id(claimed))
    timeout = rt.settings.action_timeout_seconds
    batched: ApplyResult = Applied.ALONE
    done: Action | None = None
    events: list[WorkflowEvent] = []
    try:
        async with asyncio.timeout(timeout):
            # With the effects of the other tries that are ready now, in one transaction;
            # committed and announced there, unless the batch failed as a whole.
            batched = await _batches(rt).effects.submit(claimed)
            if isinstance(batched, BaseException):
                raise batched
            if batched is Applied.ALONE:
                done, events = await _apply(rt, claimed)
    except PermanentActionError as exc:
        log.info("action %s failed for good: %s", claimed.id, exc)
        return await _settle(rt, claimed, ActionStatus.FAILED, str(exc))
    except Exception as exc:
        if not is_transient(exc):
            # A bug, not a condition: retrying would repeat it. Fail visibly; details logged.
            log.exception("action %s failed with an unexpected error", claimed.id)
            error = f"internal error ({type(exc).__name__})"
            return await _settle(rt, claimed, ActionStatus.FAILED, error)
        reason = f"timed out after {timeout}s" if isinstance(exc, TimeoutError) else describe(exc)
        log.warning("action %s try %s failed: %s", claimed.id, claimed.attempts, reason)
        if claimed.attempts >= rt.settings.action_max_tries:
            error = f"gave up after {claimed.attempts} tries: {reason}"
            return await _settle(rt, claimed, ActionStatus.FAILED, error)
        delay = _backoff(rt, claimed.attempts)
        next_try = utcnow() + timedelta(seconds=delay)
        return await _settle(rt, claimed, ActionStatus.PENDING, reason, next_try)
    if isinstance(batched, Action):
        return RunResult(Outcome.EXECUTED)
    if batched is Applied.LOST or done is None:
        return RunResult(Outcome.SKIPPED)
    faults.crash_if(Fault.CRASH_AFTER_COMMIT)
    # Events the effect caused (a job's status changed) committed with it; now fire them.
    await enqueue_events(rt.redis, events)
    await finished(rt, done)
    return RunResult(Outcome.EXECUTED)


def _backoff(rt: Runtime, tries: int) -> float:
    settings = rt.settings
    return backoff_seconds(
        tries, settings.action_retry_base_seconds, settings.action_retry_max_seconds
    )


async def _settle(
    rt: Runtime,
    claimed: Action,
    status: ActionStatus,
    error: str,
    next_try_at: datetime | None = None,
) -> RunResult:
    """Record how the try ended, and queue the next one if there is one.

    If the database is away, keep trying while the claim's lease lasts; after that the
    action is the sweeper's again (and a late write here would find the claim gone).
    """
    deadline = claimed.lease_expires_at or utcnow()
    failures = 0
    while True:
        try:
            row = await _record(rt, claimed, status, error, next_try_at)
            break
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            pause = backoff_seconds(failures, 0.2, 2.0)
            if utcnow() + timedelta(seconds=pause) >= deadline:
                log.warning(
                    "could not record that action %s is %s (%s); its lease will lapse",
                    claimed.id,
                    status,
                    describe(exc),
                )
                return RunResult(Outcome.ABANDONED)
            await asyncio.sleep(pause)
    if row is None:
        return RunResult(Outcome.SKIPPED)
    if row.status.is_final:
        await finished(rt, row)
    else:
        await publish_action(rt.redis, row)
    if status is ActionStatus.PENDING:
        await enqueue_action(rt.redis, row_id(row), row.version, defer_until=next_try_at)
        return RunResult(Outcome.RETRY)
    return RunResult(Outcome.FAILED)


async def _hand_back(rt: Runtime, claimed: Action) -> None:
    try:
        row = await _record(rt, claimed, ActionStatus.PENDING, INTERRUPTED)
    except Exception as exc:
        log.warning("could not hand back action %s (%s); its lease will lapse", claimed.id, exc)
        return
    if row is not None:
        log.info("handed back action %s", claimed.id)
        await publish_action(rt.redis, row)

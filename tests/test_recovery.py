"""Workers that die, stop or race in the middle of an action: each action ends EXECUTED,
with its effect applied once. Real worker processes, killed for real."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.faults import CRASH_EXIT_CODE, Fault
from app.models import ActionStatus
from app.services import actions
from app.services.execution import INTERRUPTED
from tests.cluster import (
    Cluster,
    database_outage,
    eventually,
    kill,
    wait_for_file,
    wait_for_log,
)


async def _note_action(cluster: Cluster, text: str = "hello") -> tuple[int, int]:
    """A new company, an app, and a note_app action on it: (company id, action id)."""
    caller = await cluster.company()
    company_id = int(caller.company_id)
    app_id = await cluster.app(company_id)
    row = await actions.create_action(
        cluster.runtime, company_id, "note_app", {"app_id": app_id, "note_text": text}
    )
    assert row.id is not None
    return company_id, row.id


async def test_worker_killed_mid_action_is_executed_once_by_the_next(cluster: Cluster) -> None:
    first = cluster.start_worker("first", fault=Fault.PAUSE_BEFORE_EFFECT)
    _, action_id = await _note_action(cluster)
    # The first worker has claimed the action and stands before its effect: kill it there.
    assert await wait_for_file(cluster.marker("first")) == str(action_id)
    assert (await cluster.action(action_id)).status is ActionStatus.RUNNING
    assert kill(first) == -signal.SIGKILL

    cluster.start_worker("second")
    done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
    assert done.status is ActionStatus.EXECUTED, done.error
    assert done.attempts >= 2 and done.executed_at is not None
    assert await cluster.effects([action_id]) == 1


async def test_worker_dead_between_effect_and_commit_leaves_one_effect(cluster: Cluster) -> None:
    crashing = cluster.start_worker("crashing", fault=Fault.CRASH_BEFORE_COMMIT)
    _, action_id = await _note_action(cluster)
    # The effect and EXECUTED were written in the transaction, then the process ended.
    assert crashing.wait(90) == CRASH_EXIT_CODE
    row = await cluster.action(action_id)
    assert row.status is ActionStatus.RUNNING and row.attempts == 1
    assert await cluster.effects([action_id]) == 0, "an uncommitted effect is not applied"

    cluster.start_worker("next")
    done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
    assert done.status is ActionStatus.EXECUTED, done.error
    assert done.attempts >= 2
    assert await cluster.effects([action_id]) == 1


async def test_two_workers_racing_on_one_action_apply_it_once(cluster: Cluster) -> None:
    # One slot each, so that a paused try keeps its worker from taking the other's job.
    slow = cluster.marker("slow")
    cluster.start_worker("slow", fault=Fault.PAUSE_BEFORE_EFFECT, WORKER_MAX_JOBS="1")
    _, action_id = await _note_action(cluster)
    assert await wait_for_file(slow) == str(action_id)
    # The slow try outlives its lease; the sweeper gives the action to the other worker,
    # whose try claims it too and pauses at the same point.
    fast = cluster.marker("fast")
    cluster.start_worker("fast", fault=Fault.PAUSE_BEFORE_EFFECT, WORKER_MAX_JOBS="1")
    assert await wait_for_file(fast) == str(action_id)
    row = await cluster.action(action_id)
    assert row.status is ActionStatus.RUNNING and row.attempts == 2

    # Both tries are live: let them race to apply the effect.
    slow.unlink()
    fast.unlink()
    done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
    assert done.status is ActionStatus.EXECUTED and done.attempts == 2
    assert await cluster.effects([action_id]) == 1


async def _batch(cluster: Cluster, count: int) -> list[int]:
    caller = await cluster.company()
    company_id = int(caller.company_id)
    app_id = await cluster.app(company_id)
    ids = []
    for n in range(count):
        row = await actions.create_action(
            cluster.runtime, company_id, "note_app", {"app_id": app_id, "note_text": f"n{n}"}
        )
        assert row.id is not None
        ids.append(row.id)
    return ids


async def _statuses(cluster: Cluster, ids: list[int]) -> list[ActionStatus]:
    return [(await cluster.action(i)).status for i in ids]


async def test_sigterm_lets_running_actions_finish_and_leaves_the_rest_queued(
    cluster: Cluster,
) -> None:
    stopping = cluster.start_worker(
        "stopping", fault=Fault.PAUSE_BEFORE_EFFECT, WORKER_MAX_JOBS="3"
    )
    ids = await _batch(cluster, 12)

    async def three_running() -> bool | None:
        return True if (await _statuses(cluster, ids)).count(ActionStatus.RUNNING) == 3 else None

    await eventually(three_running, 90, "three actions to be running")
    stopping.send_signal(signal.SIGTERM)
    # The worker takes no more jobs; the three it is running finish, then it exits.
    cluster.marker("stopping").unlink()
    assert await asyncio.to_thread(stopping.wait, 90) == 0
    statuses = await _statuses(cluster, ids)
    assert statuses.count(ActionStatus.EXECUTED) == 3
    assert statuses.count(ActionStatus.PENDING) == 9

    cluster.start_worker("next")
    for action_id in ids:
        done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
        assert done.status is ActionStatus.EXECUTED and done.attempts == 1
    assert await cluster.effects(ids) == len(ids)


async def test_sigterm_past_the_grace_period_hands_running_actions_back(cluster: Cluster) -> None:
    stopping = cluster.start_worker(
        "stopping",
        fault=Fault.PAUSE_BEFORE_EFFECT,
        WORKER_MAX_JOBS="3",
        WORKER_SHUTDOWN_SECONDS="0.5",
    )
    ids = await _batch(cluster, 6)

    async def three_running() -> bool | None:
        return True if (await _statuses(cluster, ids)).count(ActionStatus.RUNNING) == 3 else None

    await eventually(three_running, 90, "three actions to be running")
    # The running tries never finish: after the grace period they are handed back.
    stopping.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(stopping.wait, 90) == 0
    rows = [await cluster.action(i) for i in ids]
    assert all(r.status is ActionStatus.PENDING for r in rows)
    handed_back = [r for r in rows if r.attempts == 1]
    assert len(handed_back) == 3 and all(r.error == INTERRUPTED for r in handed_back)
    assert await cluster.effects(ids) == 0

    cluster.start_worker("next")
    for action_id in ids:
        done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
        assert done.status is ActionStatus.EXECUTED and done.error is None
    assert await cluster.effects(ids) == len(ids)


async def test_database_unreachable_inside_a_try_is_retried_then_executed_once(
    cluster: Cluster,
) -> None:
    marker = cluster.marker("worker")
    cluster.start_worker(
        "worker", fault=Fault.PAUSE_BEFORE_EFFECT, DATABASE_LOCK_TIMEOUT_SECONDS="1"
    )
    _, action_id = await _note_action(cluster)
    assert await wait_for_file(marker) == str(action_id)
    async with database_outage(cluster):
        # The try goes on to its effect while the database is away, and fails.
        marker.unlink()
        await wait_for_log(cluster, "worker", f"action {action_id} try 1 failed")
    # Once the database is back the failure is recorded and the next try starts.
    assert await wait_for_file(marker) == str(action_id)
    row = await cluster.action(action_id)
    assert row.status is ActionStatus.RUNNING and row.attempts == 2
    assert row.error is not None and row.executed_at is None
    assert await cluster.effects([action_id]) == 0
    marker.unlink()
    done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
    assert done.status is ActionStatus.EXECUTED and done.attempts == 2 and done.error is None
    assert await cluster.effects([action_id]) == 1


async def test_lock_timeout_inside_an_executor_is_retried(cluster: Cluster) -> None:
    if cluster.is_sqlite:
        pytest.skip("SQLite locks the whole database: the outage test above covers it")
    cluster.start_worker("worker", DATABASE_LOCK_TIMEOUT_SECONDS="0.5", ACTION_MAX_TRIES="100")
    url = make_url(cluster.database_url).set(drivername="postgresql")
    blocker = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        # Notes cannot be written while this transaction lasts; everything else can.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE note IN SHARE MODE")
        _, action_id = await _note_action(cluster)

        async def retried() -> bool | None:
            row = await cluster.action(action_id)
            return True if row.attempts >= 2 and "lock timeout" in (row.error or "") else None

        await eventually(retried, 90, "a try to fail on the lock and be retried")
        await transaction.rollback()
    finally:
        await blocker.close()
    done = await cluster.wait_for_status(action_id, ActionStatus.EXECUTED, ActionStatus.FAILED)
    assert done.status is ActionStatus.EXECUTED and done.attempts >= 2
    assert await cluster.effects([action_id]) == 1

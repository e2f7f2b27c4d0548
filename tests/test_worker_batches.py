"""A worker that finds hundreds of actions queued at once runs them in shared transactions:
each still ends once, with its effect once, whatever the others in its batch do."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import delete, func, select
from sqlmodel import col

from app.actions import get_action_type
from app.models import (
    Action,
    ActionStatus,
    App,
    DashboardNotification,
    Job,
    Note,
    Tag,
    TriggerEvent,
    WorkflowEvent,
)
from app.observability.action_metrics import read_snapshot
from app.services import actions, hiring, triggers
from app.services.batching import Batcher
from tests.cluster import Cluster, eventually


async def _create(
    cluster: Cluster, company_id: int, type_name: str, data: dict[str, object]
) -> int:
    row = await actions.create_action(cluster.runtime, company_id, type_name, data)
    assert row.id is not None
    return row.id


async def test_a_backlog_of_mixed_actions_ends_each_once_with_its_effect_once(
    cluster: Cluster,
) -> None:
    caller = await cluster.company()
    company_id = int(caller.company_id)
    rt = cluster.runtime
    app_id = await cluster.app(company_id)
    doomed_app = await cluster.app(company_id)
    jobs = [await hiring.create_job(rt, company_id, f"Job {n}") for n in range(20)]
    doomed_job = await hiring.create_job(rt, company_id, "Closed down")
    # Each status change fires this trigger: events recorded in a batch must be queued.
    await triggers.create_trigger(
        rt,
        company_id,
        TriggerEvent.JOB_STATUS_CHANGED,
        "post_dashboard_notification",
        {"message": "a job changed"},
    )

    # 300 actions queued with no worker running: the worker finds them all at once.
    tagged = [
        await _create(cluster, company_id, "tag_app", {"app_id": app_id, "tag_text": f"t{n}"})
        for n in range(150)
    ]
    # The same tag 30 times: it ends on the app once, and every action is EXECUTED.
    same_tag = [
        await _create(cluster, company_id, "tag_app", {"app_id": app_id, "tag_text": "same"})
        for _ in range(30)
    ]
    noted = [
        await _create(cluster, company_id, "note_app", {"app_id": doomed_app, "note_text": "x"})
        for _ in range(50)
    ]
    statuses = [
        await _create(cluster, company_id, "set_job_status", {"job_id": j.id, "status": "on_hold"})
        for j in jobs
    ]
    refused = [
        await _create(
            cluster, company_id, "set_job_status", {"job_id": doomed_job.id, "status": "closed"}
        )
        for _ in range(20)
    ]
    posted = [
        await _create(cluster, company_id, "post_dashboard_notification", {"message": f"m{n}"})
        for n in range(30)
    ]
    # Their app and job go away first: those effects fail for good, amid the others' batches.
    async with rt.sessions.begin() as session:
        await session.execute(delete(App).where(col(App.id) == doomed_app))
        await session.execute(delete(Job).where(col(Job.id) == doomed_job.id))
    queued = tagged + same_tag + noted + statuses + refused + posted
    assert len(queued) == 300

    cluster.start_worker()

    async def all_final() -> list[Action] | None:
        async with rt.sessions() as session:
            rows = list(
                (
                    await session.scalars(
                        select(Action).where(col(Action.company_id) == company_id)
                    )
                ).all()
            )
        # The 300, and one notification for each job whose status changed.
        done = len(rows) == 320 and all(r.status.is_final for r in rows)
        return rows if done else None

    rows = await eventually(all_final, 180, "every action to finish")
    by_id = {r.id: r for r in rows}
    for action_id in queued:
        row = by_id[action_id]
        # One try, and one change from RUNNING to its end: created, RUNNING, final.
        assert row.attempts == 1 and row.version == 3, (row.id, row.attempts, row.version)
    expected_failed = set(noted + refused)
    for action_id in queued:
        status = by_id[action_id].status
        assert status is (
            ActionStatus.FAILED if action_id in expected_failed else ActionStatus.EXECUTED
        ), (action_id, status, by_id[action_id].error)
    assert {by_id[i].error for i in noted} == {f"app {doomed_app} no longer exists"}
    assert {by_id[i].error for i in refused} == {f"job {doomed_job.id} no longer exists"}
    assert all(by_id[i].executed_at is None for i in expected_failed)

    async with rt.sessions() as session:

        async def count(table: type[Tag | Note | DashboardNotification], ids: list[int]) -> int:
            value = await session.scalar(
                select(func.count()).select_from(table).where(col(table.action_id).in_(ids))
            )
            return int(value or 0)

        assert await count(Tag, tagged) == 150
        assert await count(Tag, same_tag) == 1
        assert await count(Note, noted) == 0
        assert await count(DashboardNotification, posted) == 30
        tags = await session.scalars(select(col(Tag.text)).where(col(Tag.app_id) == app_id))
        assert sorted(tags) == sorted([f"t{n}" for n in range(150)] + ["same"])
        job_statuses = await session.scalars(
            select(col(Job.status)).where(col(Job.id).in_([j.id for j in jobs]))
        )
        assert set(job_statuses) == {"on_hold"}
        events = list(
            (
                await session.scalars(
                    select(WorkflowEvent).where(
                        col(WorkflowEvent.company_id) == company_id,
                        col(WorkflowEvent.kind) == TriggerEvent.JOB_STATUS_CHANGED,
                    )
                )
            ).all()
        )
    # Each status change recorded its event once, and each event fired its trigger once.
    assert Counter(e.job_id for e in events) == Counter(j.id for j in jobs)
    fired = [r for r in rows if r.trigger_id is not None]
    assert len(fired) == 20 and all(r.status is ActionStatus.EXECUTED for r in fired)
    # Every change was numbered once in the company's sequence.
    sequences = [r.sequence for r in rows]
    assert len(set(sequences)) == len(sequences)
    # And counted once in the fleet's metrics.
    snapshot = await read_snapshot(rt.redis)
    assert snapshot.count("executed", "tag_app") == 180
    assert snapshot.count("failed", "note_app") == 50
    assert snapshot.count("executed", "set_job_status") == 20
    assert snapshot.count("failed", "set_job_status") == 20
    assert snapshot.count("executed", "post_dashboard_notification") == 50


async def test_two_tries_adding_the_same_tag_at_once_both_end_with_it_there_once(
    cluster: Cluster,
) -> None:
    """Not in one batch: two workers' transactions. The second waits for the first's commit
    (PostgreSQL's unique index, SQLite's one writer), then finds the tag there."""
    caller = await cluster.company()
    company_id = int(caller.company_id)
    app_id = await cluster.app(company_id)
    data = {"app_id": app_id, "tag_text": "shortlisted"}
    first_id, second_id = [await _create(cluster, company_id, "tag_app", data) for _ in range(2)]
    first, second = await cluster.action(first_id), await cluster.action(second_id)
    tag_app = get_action_type("tag_app")
    assert tag_app is not None

    async def add(action: Action) -> None:
        async with cluster.runtime.sessions.begin() as session:
            await tag_app.execute(session, action)

    async with cluster.runtime.sessions.begin() as session:
        await tag_app.execute(session, first)
        racing = asyncio.create_task(add(second))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting for this transaction
    await asyncio.wait_for(racing, 10)

    async with cluster.runtime.sessions() as session:
        tags = (await session.execute(select(Tag).where(col(Tag.app_id) == app_id))).all()
    assert [(row.Tag.text, row.Tag.action_id) for row in tags] == [("shortlisted", first_id)]


async def test_a_batcher_runs_what_queued_up_together_and_leaves_out_the_cancelled() -> None:
    batches: list[list[int]] = []
    started = asyncio.Event()
    gate = asyncio.Event()

    async def double(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        started.set()
        await gate.wait()
        return [ValueError(n) if n == 7 else n * 2 for n in items]

    batcher: Batcher[int, int] = Batcher(double, max_size=3)
    first = asyncio.create_task(batcher.submit(1))
    await started.wait()
    # While the first batch runs, these queue up: the next batches, at most 3 each.
    rest = {n: asyncio.create_task(batcher.submit(n)) for n in range(2, 9)}
    await asyncio.sleep(0)
    rest[3].cancel()  # before its batch starts: left out
    await asyncio.sleep(0)
    gate.set()
    assert await first == 2
    results = await asyncio.gather(*rest.values(), return_exceptions=True)
    outcomes = dict(zip(rest, results, strict=True))
    assert batches == [[1], [2, 4], [5, 6, 7], [8]]
    assert isinstance(outcomes.pop(3), asyncio.CancelledError)
    assert isinstance(outcomes.pop(7), ValueError)
    assert outcomes == {2: 4, 4: 8, 5: 10, 6: 12, 8: 16}
    await batcher.idle()


async def test_a_result_whose_caller_left_mid_batch_goes_to_the_orphan_handler() -> None:
    started = asyncio.Event()
    gate = asyncio.Event()
    orphans: list[tuple[int, int]] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        started.set()
        await gate.wait()
        return list(items)

    async def orphaned(item: int, result: int) -> None:
        orphans.append((item, result))

    batcher: Batcher[int, int] = Batcher(run, orphaned=orphaned)
    calls = [asyncio.create_task(batcher.submit(n)) for n in (1, 2)]
    await started.wait()
    calls[0].cancel()  # its batch has started: it runs on without its caller
    gate.set()
    assert await calls[1] == 2
    await batcher.idle()
    assert calls[0].cancelled()
    assert orphans == [(1, 1)]

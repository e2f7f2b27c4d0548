"""A worker starts the jobs it has room for together, with arq's rules: each job once, only
while queued and due, never while another worker holds it, and never more than max_jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import func
from redis.exceptions import ResponseError

from app.settings import Settings
from worker.job_starts import GroupStartingWorker
from worker.settings import create_worker


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    yield redis
    await redis.aclose()


class Jobs:
    """A queue of its own, and a record of the jobs run on it and how many ran at once."""

    def __init__(self, pool: ArqRedis) -> None:
        self.pool = pool
        self.queue = f"test:starts:{uuid.uuid4().hex[:8]}"
        self.ran: Counter[int] = Counter()
        self.running = 0
        self.most_at_once = 0
        self.go_on = asyncio.Event()
        self.go_on.set()
        self.one_more = asyncio.Event()

    async def record(self, ctx: dict[str, Any], number: int) -> None:
        self.running += 1
        self.one_more.set()
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.go_on.wait()
            await asyncio.sleep(0.001 * (number % 3))
            self.ran[number] += 1
        finally:
            self.running -= 1

    async def until_running(self, count: int) -> None:
        while self.running < count:
            self.one_more.clear()
            await self.one_more.wait()

    async def enqueue(self, number: int, **options: Any) -> str:
        job_id = f"{self.queue}:{number}"
        job = await self.pool.enqueue_job(
            "record", number, _job_id=job_id, _queue_name=self.queue, **options
        )
        assert job is not None
        return job_id

    def worker(
        self, max_jobs: int, poll_delay: float = 0.01, **options: Any
    ) -> GroupStartingWorker:
        return GroupStartingWorker(
            functions=[func(self.record, name="record", keep_result=0)],
            redis_pool=self.pool,
            queue_name=self.queue,
            max_jobs=max_jobs,
            poll_delay=poll_delay,
            handle_signals=False,
            keep_result=0,
            **options,
        )


async def _settled(worker: GroupStartingWorker) -> None:
    await asyncio.gather(*worker.tasks.values())


def test_the_product_worker_starts_jobs_in_groups(settings: Settings) -> None:
    assert isinstance(create_worker(settings), GroupStartingWorker)


async def test_two_workers_on_one_queue_run_each_job_once(pool: ArqRedis) -> None:
    jobs = Jobs(pool)
    for number in range(300):
        await jobs.enqueue(number)
    first, second = jobs.worker(7, burst=True), jobs.worker(5, burst=True)
    await asyncio.gather(first.main(), second.main())
    assert jobs.ran == Counter(range(300))
    assert first.jobs_complete + second.jobs_complete == 300
    assert first.jobs_complete > 0 and second.jobs_complete > 0
    # Each worker kept to its slots: 12 at most between them.
    assert jobs.most_at_once <= 12


async def test_only_queued_due_jobs_that_no_one_holds_are_started(pool: ArqRedis) -> None:
    jobs = Jobs(pool)
    free = await jobs.enqueue(1)
    later = await jobs.enqueue(2, _defer_by=60)
    held = await jobs.enqueue(3)
    await pool.psetex(in_progress_key_prefix + held, 60_000, b"elsewhere")
    gone = await jobs.enqueue(4)
    await pool.zrem(jobs.queue, gone)
    worker = jobs.worker(10)

    await worker.start_jobs([job_id.encode() for job_id in (free, later, held, gone)])
    assert set(worker.tasks) == {free}
    await _settled(worker)

    assert jobs.ran == Counter([1])
    # The held job's key is still its holder's, with its lifetime; none was left for the others.
    assert await pool.get(in_progress_key_prefix + held) == b"elsewhere"
    assert await pool.pttl(in_progress_key_prefix + held) > 50_000
    for job_id in (later, gone):
        assert not await pool.exists(in_progress_key_prefix + job_id)
    # Every slot that was not used, or whose job ended, is free again.
    assert worker.job_counter == 0
    assert worker.sem._value == 10 + 1  # arq keeps one permit over max_jobs


async def test_jobs_start_as_slots_free_up_never_more_than_max_jobs(pool: ArqRedis) -> None:
    jobs = Jobs(pool)
    jobs.go_on.clear()
    ids = [await jobs.enqueue(number) for number in range(10)]
    # A long pause between polls: every start below happens in this one call, as slots free.
    worker = jobs.worker(3, poll_delay=30)

    starting = asyncio.create_task(worker.start_jobs([job_id.encode() for job_id in ids]))
    await jobs.until_running(3)
    await asyncio.sleep(0.05)
    # Three hold every slot; the other seven wait for room, not yet marked in progress.
    assert jobs.running == 3 and not starting.done()
    assert not await pool.exists(in_progress_key_prefix + ids[-1])

    jobs.go_on.set()
    await starting
    await _settled(worker)
    assert jobs.ran == Counter(range(10))
    assert jobs.most_at_once == 3
    assert worker.job_counter == 0


async def test_a_full_worker_ends_its_poll_after_a_pause(pool: ArqRedis) -> None:
    jobs = Jobs(pool)
    jobs.go_on.clear()
    first, second = await jobs.enqueue(1), await jobs.enqueue(2)
    worker = jobs.worker(1, poll_delay=0.05)

    # The poll loop gets on with its other duties; the second job waits for the next poll.
    await asyncio.wait_for(worker.start_jobs([first.encode(), second.encode()]), 5)
    assert set(worker.tasks) == {first}
    assert not await pool.exists(in_progress_key_prefix + second)
    jobs.go_on.set()
    await _settled(worker)
    assert jobs.ran == Counter([1])


async def test_a_failed_start_gives_its_slots_back(pool: ArqRedis) -> None:
    jobs = Jobs(pool)
    ids = [await jobs.enqueue(number) for number in range(4)]
    worker = jobs.worker(4)
    # The start's script fails on the server, as when Redis refuses it.
    worker._start_script = pool.register_script("return redis.error_reply('refused')")

    with pytest.raises(ResponseError, match="refused"):
        await worker.start_jobs([job_id.encode() for job_id in ids])
    assert worker.sem._value == 4 + 1 and worker.job_counter == 0 and not worker.tasks
    assert jobs.ran == Counter()

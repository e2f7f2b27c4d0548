"""Redis goes away: actions are still accepted, and run once it is back, with no call from
the client; a worker waits for Redis (or, at start, its database), or exits non-zero for its
supervisor, never hangs."""

from __future__ import annotations

import asyncio

from arq.constants import default_queue_name, health_check_key_suffix
from redis.asyncio import Redis

from tests.cluster import Cluster, eventually


async def _serving(cluster: Cluster) -> None:
    """Wait until a worker of the cluster has connected to Redis (arq's health check key)."""
    redis = Redis.from_url(cluster.redis.url)
    key = default_queue_name + health_check_key_suffix
    try:

        async def checked_in() -> bool | None:
            return True if await redis.exists(key) else None

        await eventually(checked_in, 90, "a worker to connect to Redis")
    finally:
        await redis.aclose()


async def test_action_created_while_redis_is_down_runs_once_redis_is_back(
    cluster: Cluster,
) -> None:
    gateway = cluster.start_gateway()
    worker = cluster.start_worker()
    caller = await cluster.company(gateway)
    app_id = await cluster.app(int(caller.company_id))
    await _serving(cluster)

    cluster.redis.stop()
    created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "kept"})
    assert created["errors"] == [], created
    assert created["action"]["status"] == "PENDING"
    cluster.redis.start()

    done = await caller.wait_for_status(created["action"]["id"], {"EXECUTED", "FAILED"}, 90)
    assert done["status"] == "EXECUTED" and done["attempts"] == 1
    # The same worker process: it waited for Redis and started again.
    assert worker.poll() is None
    assert await cluster.effects([int(done["id"])]) == 1


async def test_worker_exits_non_zero_when_redis_stays_away(cluster: Cluster) -> None:
    worker = cluster.start_worker(WORKER_REDIS_OUTAGE_SECONDS="1")
    await _serving(cluster)
    cluster.redis.stop()
    assert await asyncio.to_thread(worker.wait, 90) == 1


async def test_worker_that_cannot_reach_its_database_retries_then_exits_non_zero(
    cluster: Cluster,
) -> None:
    if cluster.is_sqlite:
        unreachable = f"sqlite+aiosqlite:///{cluster.directory / 'missing' / 'nowhere.db'}"
    else:
        unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    worker = cluster.start_worker(DATABASE_URL=unreachable, WORKER_REDIS_OUTAGE_SECONDS="2")
    assert await asyncio.to_thread(worker.wait, 90) == 1
    log = cluster.log("worker").read_text()
    assert log.count("could not start") >= 2, "it tried again before giving up"

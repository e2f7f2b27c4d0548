"""Enqueueing work on arq. The rows are the truth; a job is only a nudge to act on one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from arq.connections import ArqRedis

log = logging.getLogger(__name__)

# The worker's function names; `worker/` registers a function under each.
RUN_ACTION = "run_action"
FIRE_EVENT = "fire_event"
SWEEP = "sweep_actions"


def job_id(action_id: int) -> str:
    """The job id of an action: arq refuses a second job while one is queued or running."""
    return f"action:{action_id}"


def event_job_id(event_id: int) -> str:
    """The job id of an event's firing, unique in the same way."""
    return f"event:{event_id}"


async def _enqueue(redis: ArqRedis, function: str, row_id: int, key: str) -> bool:
    try:
        job = await redis.enqueue_job(function, row_id, _job_id=key)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %s (%s); the sweeper will", key, exc)
        return False
    return job is not None


async def enqueue_action(redis: ArqRedis, action_id: int) -> bool:
    """Queue the action; False if it was queued already or Redis is unreachable (logged)."""
    return await _enqueue(redis, RUN_ACTION, action_id, job_id(action_id))


async def enqueue_event(redis: ArqRedis, event_id: int) -> bool:
    """Queue the firing of an event's triggers; False as for actions."""
    return await _enqueue(redis, FIRE_EVENT, event_id, event_job_id(event_id))

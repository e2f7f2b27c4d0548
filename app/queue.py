"""Enqueueing actions on arq. The action row is the truth; a job is only a nudge to run it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from arq.connections import ArqRedis

log = logging.getLogger(__name__)

# The worker's function name; `worker/` registers a function under this name.
RUN_ACTION = "run_action"
SWEEP = "sweep_actions"


def job_id(action_id: int) -> str:
    """The job id of an action: arq refuses a second job while one is queued or running."""
    return f"action:{action_id}"


async def enqueue_action(redis: ArqRedis, action_id: int) -> bool:
    """Queue the action; False if it was queued already or Redis is unreachable (logged)."""
    try:
        job = await redis.enqueue_job(RUN_ACTION, action_id, _job_id=job_id(action_id))
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue action %s (%s); the sweeper will", action_id, exc)
        return False
    return job is not None

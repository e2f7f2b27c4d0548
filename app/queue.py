"""Enqueueing work on arq. The rows are the truth; a job is only a nudge to act on one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from datetime import datetime

    from arq.connections import ArqRedis
    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

# The worker's function names; `worker/` registers a function under each.
RUN_ACTION = "run_action"
FIRE_EVENT = "fire_event"
SWEEP = "sweep_actions"
PURGE = "purge_actions"


def job_id(action_id: int, version: int = 1) -> str:
    """The id of the job that runs the action from this version of its row.

    arq refuses a job whose id is queued or running, so each state of the row is queued at
    most once. The id changes with the row (every change bumps `version`): a job left "in
    progress" by a killed worker blocks its own id until arq's timeout, never the next try.
    """
    return f"action:{action_id}:v{version}"


def event_job_id(event_id: int) -> str:
    """The job id of an event's firing: arq refuses a second while one is queued or running."""
    return f"event:{event_id}"


async def _enqueue(
    redis: ArqRedis, function: str, row_id: int, key: str, defer_until: datetime | None = None
) -> bool:
    try:
        job = await redis.enqueue_job(function, row_id, _job_id=key, _defer_until=defer_until)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %s (%s); the sweeper will", key, exc)
        return False
    return job is not None


async def enqueue_action(
    redis: ArqRedis, action_id: int, version: int = 1, *, defer_until: datetime | None = None
) -> bool:
    """Queue a try of the action; False if it was queued already or Redis is unreachable."""
    return await _enqueue(redis, RUN_ACTION, action_id, job_id(action_id, version), defer_until)


# arq's enqueue_job for many jobs in one command: for each job whose id is neither queued nor
# running nor holding a result, its serialized job under arq:job:<id> (expiring as arq's do)
# and its id in the queue. A script runs atomically, as enqueue_job's WATCH/MULTI does.
# KEYS: the queue, then each job's job key and result key; ARGV: the expiry in ms, the score,
# then each job's id and serialized job.
_ENQUEUE_MANY: Final = """
local queued = 0
for j = 0, (#KEYS - 1) / 2 - 1 do
  local job_key, result_key = KEYS[2 + 2 * j], KEYS[3 + 2 * j]
  if redis.call('exists', job_key, result_key) == 0 then
    redis.call('psetex', job_key, ARGV[1], ARGV[4 + 2 * j])
    redis.call('zadd', KEYS[1], ARGV[2], ARGV[3 + 2 * j])
    queued = queued + 1
  end
end
return queued
"""


def enqueue_actions_in(pipe: Pipeline, redis: ArqRedis, actions: list[tuple[int, int]]) -> None:
    """Add to `pipe` a try of each (action id, version), queued as `enqueue_action` would."""
    if not actions:
        return
    now = timestamp_ms()
    keys: list[str] = [redis.default_queue_name]
    args: list[Any] = [redis.expires_extra_ms, now]
    for action_id, version in actions:
        key = job_id(action_id, version)
        keys += [job_key_prefix + key, result_key_prefix + key]
        payload = serialize_job(
            RUN_ACTION, (action_id,), {}, None, now, serializer=redis.job_serializer
        )
        args += [key, payload]
    pipe.eval(_ENQUEUE_MANY, len(keys), *keys, *args)


async def enqueue_event(redis: ArqRedis, event_id: int) -> bool:
    """Queue the firing of an event's triggers; False as for actions."""
    return await _enqueue(redis, FIRE_EVENT, event_id, event_job_id(event_id))


async def queued(redis: ArqRedis, job_ids: list[str]) -> list[bool]:
    """Which of these jobs exist (queued or running), in one round trip."""
    if not job_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in job_ids:
            pipe.exists(job_key_prefix + key)
        found = await pipe.execute()
    return [bool(n) for n in found]

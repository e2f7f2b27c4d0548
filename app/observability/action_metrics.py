"""Fleet-wide action metrics, kept in Redis, so that every gateway reports the same totals.

Gateways create actions and workers finish them, any number of each; a counter in one
process's memory would hold that process's share only, and vanish with it. So the service
layer increments counters in one Redis hash where each transition commits, and `/metrics` on
any gateway reads the hash back. An increment made while Redis is unreachable is lost (logged):
the totals are for watching trends, the action rows stay the truth.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from arq.constants import default_queue_name
from redis.exceptions import RedisError

from app.models import ActionStatus

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

    from app.models import Action

log = logging.getLogger(__name__)

METRICS_KEY: Final = "actions-gateway:metrics:actions"
# Seconds from creation to execution: a queued action normally runs well under a second;
# the long tail is retries with backoff and actions that waited for Redis to come back.
DELAY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

CREATED, EXECUTED, FAILED = "created", "executed", "failed"
_SEP = "|"


def add_increments(pipe: Pipeline, fields: dict[str, float]) -> None:
    for name, amount in fields.items():
        if isinstance(amount, int):
            pipe.hincrby(METRICS_KEY, name, amount)
        else:
            pipe.hincrbyfloat(METRICS_KEY, name, amount)


async def _increment(redis: Redis, fields: dict[str, float]) -> None:
    if not fields:
        return
    try:
        # One transaction: a histogram's buckets, count and sum never disagree.
        async with redis.pipeline(transaction=True) as pipe:
            add_increments(pipe, fields)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("action metrics not recorded (%s)", exc)


def count_created_in(pipe: Pipeline, actions: list[Action]) -> None:
    """Add the counting of these created actions to a pipeline (the creates' own, batched)."""
    add_increments(pipe, dict(Counter(f"{CREATED}{_SEP}{action.type}" for action in actions)))


def outcome_fields(action: Action) -> dict[str, float]:
    """The counts of an action that has just become EXECUTED (with its delay) or FAILED."""
    if action.status is ActionStatus.FAILED:
        return {f"{FAILED}{_SEP}{action.type}": 1}
    if action.status is not ActionStatus.EXECUTED or action.executed_at is None:
        return {}
    delay = max((action.executed_at - action.created_at).total_seconds(), 0.0)
    fields: dict[str, float] = {
        f"{EXECUTED}{_SEP}{action.type}": 1,
        f"delay_count{_SEP}{action.type}": 1,
        f"delay_sum{_SEP}{action.type}": delay,
    }
    for bound in DELAY_BUCKETS:
        if delay <= bound:
            fields[f"delay_le{_SEP}{action.type}{_SEP}{bound}"] = 1
    return fields


async def record_outcome(redis: Redis, action: Action) -> None:
    """Count an action that has just become EXECUTED (with its delay) or FAILED."""
    await _increment(redis, outcome_fields(action))


@dataclass
class DelayHistogram:
    buckets: dict[float, int] = field(default_factory=dict)  # cumulative, by upper bound
    count: int = 0
    total: float = 0.0


@dataclass
class FleetSnapshot:
    """The totals as read at one scrape."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (created|..., type)
    delays: dict[str, DelayHistogram] = field(default_factory=dict)
    queue_depth: int = 0

    def count(self, kind: str, type_name: str) -> int:
        return self.counts.get((kind, type_name), 0)


async def read_snapshot(redis: Redis) -> FleetSnapshot:
    """Raises RedisError/OSError if Redis is unreachable."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(METRICS_KEY)
        # arq's queue: jobs waiting to run, deferred retries included.
        pipe.zcard(default_queue_name)
        raw, depth = await pipe.execute()
    snapshot = FleetSnapshot(queue_depth=int(depth))
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        parts = name.split(_SEP)
        if parts[0] in (CREATED, EXECUTED, FAILED) and len(parts) == 2:
            snapshot.counts[(parts[0], parts[1])] = int(value)
            continue
        histogram = (
            snapshot.delays.setdefault(parts[1], DelayHistogram()) if len(parts) > 1 else None
        )
        if histogram is None:
            continue
        if parts[0] == "delay_count":
            histogram.count = int(value)
        elif parts[0] == "delay_sum":
            histogram.total = float(value)
        elif parts[0] == "delay_le" and len(parts) == 3:
            histogram.buckets[float(parts[2])] = int(value)
    return snapshot

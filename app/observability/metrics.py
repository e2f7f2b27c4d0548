"""`GET /metrics` in Prometheus's text format.

Two kinds of series, and they aggregate differently across a fleet:

- This process's own: request latency by operation, open WebSockets and subscriptions, live
  changes written straight to sockets, WebSocket operations waiting their turn to start, and
  the process's CPU, memory and file descriptors.
  Sum them over gateways.
- The fleet's, read from Redis at each scrape (`app.observability.action_metrics`): actions
  created, executed and failed by type, the delay from creation to execution, and the queue
  depth. Every gateway reports the same values: take `max` over gateways, never `sum`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.responses import Response

from app.actions import REGISTRY
from app.graphql import fanout
from app.observability.action_metrics import (
    CREATED,
    DELAY_BUCKETS,
    EXECUTED,
    FAILED,
    FleetSnapshot,
    read_snapshot,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from app.graphql.starts import StartGate
    from app.runtime import Runtime

log = logging.getLogger(__name__)

PREFIX: Final = "actions_gateway"
REQUEST_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A scrape must answer even when Redis does not.
FLEET_READ_TIMEOUT: Final = 2.0


class GatewayMetrics:
    """This process's series, in a registry of its own (one per application)."""

    def __init__(self, starts: StartGate) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_duration = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time to answer an HTTP request, by operation (GraphQL operation type and root "
            "fields, or method and route) and status code.",
            ["operation", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.subscriptions_open = Gauge(
            f"{PREFIX}_subscriptions_open",
            "GraphQL subscriptions this process is serving.",
            registry=self.registry,
        )
        self.subscriptions_parked = Gauge(
            f"{PREFIX}_subscriptions_parked",
            "Of those, idle ones waiting on the event bus without a task of their own.",
            registry=self.registry,
        )
        self.websockets_open = Gauge(
            f"{PREFIX}_websockets_open",
            "WebSocket connections open to this process.",
            registry=self.registry,
        )
        self.registry.register(DirectSendsCollector())
        self.registry.register(StartsCollector(starts))

    def observe_request(self, operation: str, status: int, seconds: float) -> None:
        self.request_duration.labels(operation, str(status)).observe(seconds)


class DirectSendsCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            f"{PREFIX}_subscription_changes_sent_directly",
            "Live changes written straight to a subscriber's socket by the event bus, rather "
            "than through its subscription (app/graphql/fanout.py).",
            value=fanout.direct_sends,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_subscription_wakes",
            "Parked subscriptions run again because a change needed more than a direct send "
            "(a gap, a resync, a socket that could not take it at once).",
            value=fanout.wakes,
        )


class StartsCollector(Collector):
    def __init__(self, starts: StartGate) -> None:
        self.starts = starts

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_websocket_operations_waiting_to_start",
            "WebSocket operations waiting for their turn to set up (WS_STARTS_AT_ONCE at a "
            "time; app/graphql/starts.py).",
            value=self.starts.waiting,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_websocket_operation_turns_overdue",
            "Turns handed on because their operation had neither ended nor waited for changes "
            "within WS_START_PATIENCE_SECONDS (a slow query, say).",
            value=self.starts.overdue,
        )


class FleetCollector(Collector):
    """One scrape's fleet-wide series, from a snapshot read beforehand (collect is sync)."""

    def __init__(self, snapshot: FleetSnapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        available = GaugeMetricFamily(
            f"{PREFIX}_fleet_metrics_available",
            "1 if the fleet-wide series below could be read from Redis at this scrape.",
            value=0 if self.snapshot is None else 1,
        )
        yield available
        snapshot = self.snapshot
        if snapshot is None:
            return
        helps = {
            CREATED: "Actions created, by type (all gateways).",
            EXECUTED: "Actions executed, by type (all workers).",
            FAILED: "Actions that failed for good, by type (all workers).",
        }
        for kind, help_text in helps.items():
            family = CounterMetricFamily(f"{PREFIX}_actions_{kind}", help_text, labels=["type"])
            for type_name in REGISTRY:
                family.add_metric([type_name], snapshot.count(kind, type_name))
            yield family
        delay = HistogramMetricFamily(
            f"{PREFIX}_action_execution_delay_seconds",
            "Seconds from an action's creation to its execution, by type (all workers).",
            labels=["type"],
        )
        for type_name in REGISTRY:
            histogram = snapshot.delays.get(type_name)
            buckets = [
                (str(bound), histogram.buckets.get(bound, 0) if histogram else 0)
                for bound in DELAY_BUCKETS
            ]
            count = histogram.count if histogram else 0
            buckets.append(("+Inf", count))
            delay.add_metric([type_name], buckets, histogram.total if histogram else 0.0)
        yield delay
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_depth",
            "Jobs in the action queue, deferred retries included (all gateways and workers).",
            value=snapshot.queue_depth,
        )


async def _fleet_snapshot(runtime: Runtime) -> FleetSnapshot | None:
    try:
        async with asyncio.timeout(FLEET_READ_TIMEOUT):
            return await read_snapshot(runtime.redis)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("fleet metrics unavailable: Redis did not answer (%s)", exc)
        return None


async def metrics_endpoint(request: Request) -> Response:
    metrics: GatewayMetrics = request.app.state.metrics
    runtime: Runtime = request.app.state.runtime
    metrics.subscriptions_open.set(runtime.bus.listener_count if runtime.bus else 0)
    metrics.subscriptions_parked.set(runtime.bus.parked_count if runtime.bus else 0)
    metrics.websockets_open.set(request.app.state.websockets.open_count)
    fleet = CollectorRegistry()
    fleet.register(FleetCollector(await _fleet_snapshot(runtime)))
    body = generate_latest(metrics.registry) + generate_latest(fleet)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

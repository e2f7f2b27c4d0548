"""`/metrics`: this gateway's series, and the fleet's, read from Redis at each scrape."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.models import Action, ActionStatus
from app.observability.action_metrics import DELAY_BUCKETS, record_outcome
from app.runtime import Runtime
from tests.support import Caller, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_an_executed_action_is_counted_with_its_delay_and_its_request(
    caller: Caller,
) -> None:
    before = await scrape(caller.base_url)
    app_id = await caller.create_app(await caller.create_job())
    action = (
        await caller.create_action("tag_app", {"app_id": int(app_id), "tag_text": "counted"})
    )["action"]
    await caller.wait_for_status(action["id"], {"EXECUTED"})

    executed = "actions_gateway_actions_executed_total"

    async def counted() -> bool:
        after = await scrape(caller.base_url)
        return value(after, executed, type="tag_app") > value(before, executed, type="tag_app")

    # The worker counts right after it commits, so the count may trail the status a moment.
    await wait_until(counted, "the executed action counted")
    after = await scrape(caller.base_url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("actions_gateway_actions_created_total", type="tag_app") >= 1
    assert grew("actions_gateway_action_execution_delay_seconds_count", type="tag_app") >= 1
    assert grew("actions_gateway_action_execution_delay_seconds_sum", type="tag_app") > 0
    buckets = [
        value(after, "actions_gateway_action_execution_delay_seconds_bucket", type="tag_app", le=le)
        for le in [str(b) for b in DELAY_BUCKETS] + ["+Inf"]
    ]
    assert buckets == sorted(buckets), "cumulative buckets"
    # The mutation, labelled by what it is rather than by its path.
    operation = {"operation": "mutation createAction", "status": "200"}
    assert grew("actions_gateway_request_duration_seconds_count", **operation) >= 1
    assert value(after, "actions_gateway_queue_depth") >= 0
    assert value(after, "actions_gateway_fleet_metrics_available") == 1
    for type_name in ("note_app", "post_dashboard_notification", "set_job_status"):
        assert ("actions_gateway_actions_created_total", frozenset({("type", type_name)})) in after


async def test_a_failed_action_is_counted_by_its_type(gateway: str, runtime: Runtime) -> None:
    before = await scrape(gateway)
    failed = Action(
        id=0, company_id=0, type="note_app", data={}, status=ActionStatus.FAILED, error="gone"
    )
    await record_outcome(runtime.redis, failed)
    after = await scrape(gateway)
    name = "actions_gateway_actions_failed_total"
    assert value(after, name, type="note_app") == value(before, name, type="note_app") + 1


async def test_requests_are_labelled_by_route_never_by_raw_path(caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=caller.base_url, headers=caller.headers) as client:
        assert (await client.get("/no/such/page")).status_code == 404
        assert (await client.get("/api/v1/no-such-thing")).status_code == 404
        assert (await client.get("/graphql", headers={"Accept": "text/html"})).status_code == 200
        assert (await client.get("/static/board/board.js")).status_code == 200
    after = await scrape(caller.base_url)
    count = "actions_gateway_request_duration_seconds_count"
    assert value(after, count, operation="unmatched", status="404") >= 1
    assert value(after, count, operation="GET /api/v1", status="404") >= 1
    assert value(after, count, operation="GET /graphql", status="200") >= 1
    assert value(after, count, operation="GET /static", status="200") >= 1
    operations = {dict(labels).get("operation") for name, labels in after if name == count}
    assert not any("no-such" in str(o) or "board.js" in str(o) for o in operations)


async def test_open_subscriptions_and_websockets_are_counted(caller: Caller) -> None:
    async with caller.websocket() as ws:
        await ws.subscribe("subscription { actions { id } }")

        async def counted() -> bool:
            samples = await scrape(caller.base_url)
            return (
                value(samples, "actions_gateway_subscriptions_open") >= 1
                and value(samples, "actions_gateway_websockets_open") >= 1
            )

        await wait_until(counted, "the open subscription counted")

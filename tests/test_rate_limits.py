"""Requests per API key are limited in Redis, so the limit holds across gateway processes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support import Caller, free_port

# Five requests per hour: the sixth is refused however slowly the test runs.
LIMITED = {"RATE_LIMIT_REQUESTS": "5", "RATE_LIMIT_WINDOW_SECONDS": "3600"}
QUERY = {"query": "{ actions { edges { cursor } } }"}


@pytest.fixture(scope="module")
def limited_gateways(start_gateway: Callable[..., str]) -> tuple[str, str]:
    """Two gateway processes with one Redis, as behind a load balancer."""
    return start_gateway("limited-a", **LIMITED), start_gateway("limited-b", **LIMITED)


def post(base_url: str, caller: Caller) -> httpx.Response:
    return httpx.post(f"{base_url}/graphql", json=QUERY, headers=caller.headers, timeout=30)


def test_the_limit_holds_across_gateways_over_graphql(
    caller: Caller, limited_gateways: tuple[str, str]
) -> None:
    a, b = limited_gateways
    for i in range(5):
        assert post(a if i % 2 else b, caller).status_code == 200
    for base_url in (a, b):
        refused = post(base_url, caller)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
        assert "at most 5 every 3600 seconds" in error["message"]


async def test_each_subscription_counts_when_it_starts(
    caller: Caller, other_caller: Caller, limited_gateways: tuple[str, str]
) -> None:
    a, _ = limited_gateways
    for _ in range(3):
        assert post(a, caller).status_code == 200
    async with caller.at(a).websocket() as socket:
        for _ in range(2):  # the fourth and fifth requests
            await socket.subscribe("subscription { actions { id } }")
        refused = await socket.subscribe("subscription { actions { id } }")
        message = await socket.receive()
        assert message["id"] == refused, message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Another key, even of the same gateway, has its own allowance.
    assert post(a, other_caller).status_code == 200


@pytest.fixture(scope="module")
def gateway_without_redis(start_gateway: Callable[..., str]) -> str:
    return start_gateway("no-redis", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **LIMITED)


def test_with_redis_down_requests_are_let_through(
    caller: Caller, gateway_without_redis: str
) -> None:
    """Failing open: a limiter that cannot count must not take the whole API down."""
    for _ in range(7):
        response = post(gateway_without_redis, caller)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"actions": {"edges": []}}}


def test_over_rest_the_limit_answers_429_with_retry_after(
    caller: Caller, limited_gateways: tuple[str, str]
) -> None:
    a, b = limited_gateways
    for i in range(5):
        url = f"{a if i % 2 else b}/api/v1/actions"
        assert httpx.get(url, headers=caller.headers, timeout=30).status_code == 200
    refused = httpx.get(f"{a}/api/v1/actions", headers=caller.headers, timeout=30)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    [error] = refused.json()["errors"]
    assert error["code"] == "RATE_LIMITED" and error["field"] is None
    assert "retry in" in error["message"]
    # GraphQL draws on the same allowance: it is the key's, not the protocol's.
    assert post(b, caller).status_code == 429


def test_every_rest_operation_documents_the_rate_limit() -> None:
    from app.rest.openapi import document

    for operations in document()["paths"].values():
        for operation in operations.values():
            assert operation["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}

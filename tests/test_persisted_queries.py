"""Automatic persisted queries as Apollo Client and urql send them, shared through Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.graphql.persisted_queries import QueryStore
from app.runtime import Runtime
from app.settings import Settings
from tests.support import Caller, free_port

NOT_FOUND = {
    "message": "PersistedQueryNotFound",
    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
}


def unique_query(selection: str = "actionTypes { name }") -> str:
    """A query no test has persisted yet: the store is shared by the whole run."""
    return f"query Q{uuid.uuid4().hex} {{ {selection} }}"


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def extensions(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def send(caller: Caller, method: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=caller.base_url, timeout=30) as client:
        return await client.request(method, "/graphql", **kwargs)


async def post(
    caller: Caller,
    *,
    digest: str,
    query: str | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": extensions(digest), "variables": variables or {}}
    if query is not None:
        body["query"] = query
    response = await send(caller, "POST", json=body, headers=caller.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def get(
    caller: Caller,
    *,
    digest: str,
    variables: dict[str, Any] | None = None,
    if_none_match: str | None = None,
) -> httpx.Response:
    """A GET as Apollo Client's useGETForHashedQueries sends it."""
    params = {"extensions": json.dumps(extensions(digest))}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    headers = {**caller.headers, "Accept": "application/json"}
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match
    return await send(caller, "GET", params=params, headers=headers)


async def test_hash_alone_is_not_found_then_the_query_once_then_the_hash_suffices(
    caller: Caller,
) -> None:
    query = unique_query()
    digest = sha256(query)
    assert (await post(caller, digest=digest))["errors"] == [NOT_FOUND]

    first = await post(caller, digest=digest, query=query)
    assert "errors" not in first and len(first["data"]["actionTypes"]) >= 4

    assert await post(caller, digest=digest) == first


async def test_every_gateway_process_shares_the_persisted_queries(
    caller: Caller, dev_gateway: str
) -> None:
    query = unique_query("actionTypes { typeName }")
    other = dataclasses.replace(caller, base_url=dev_gateway)
    assert (await post(other, digest=sha256(query)))["errors"] == [NOT_FOUND]
    stored = await post(caller, digest=sha256(query), query=query)
    assert await post(other, digest=sha256(query)) == stored


async def test_get_runs_a_persisted_query_and_revalidates_with_etag(caller: Caller) -> None:
    query = unique_query("actions(first: 5) { edges { node { id status } } }")
    digest = sha256(query)
    await post(caller, digest=digest, query=query)

    first = await get(caller, digest=digest)
    assert first.status_code == 200 and first.json() == {"data": {"actions": {"edges": []}}}
    assert first.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in first.headers["vary"]
    etag = first.headers["etag"]

    unchanged = await get(caller, digest=digest, if_none_match=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    await caller.create_action("post_dashboard_notification", {"message": "news"})
    changed = await get(caller, digest=digest, if_none_match=etag)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["data"]["actions"]["edges"]) == 1


async def test_get_with_variables_and_a_miss_answers_like_post(caller: Caller) -> None:
    query = f"query Q{uuid.uuid4().hex}($id: ID!) {{ action(id: $id) {{ id }} }}"
    miss = await get(caller, digest=sha256(query), variables={"id": "1"})
    assert miss.status_code == 200 and miss.json()["errors"] == [NOT_FOUND]
    await post(caller, digest=sha256(query), query=query, variables={"id": "1"})
    hit = await get(caller, digest=sha256(query), variables={"id": "1"})
    assert hit.json() == {"data": {"action": None}}


async def test_a_persisted_mutation_is_never_run_over_get(caller: Caller) -> None:
    mutation = (
        f"mutation M{uuid.uuid4().hex} {{ createAction(input: "
        '{type: "post_dashboard_notification", data: {message: "once"}}) { action { id } } }'
    )
    created = await post(caller, digest=sha256(mutation), query=mutation)
    assert created["data"]["createAction"]["action"]["id"]

    response = await get(caller, digest=sha256(mutation))
    assert response.status_code == 400
    listed = await caller.graphql("{ actions { edges { node { id } } } }")
    assert len(listed["actions"]["edges"]) == 1


async def test_a_hash_that_does_not_match_its_query_is_refused_and_not_kept(
    caller: Caller,
) -> None:
    query = unique_query()
    wrong = sha256(query + " ")
    body = await post(caller, digest=wrong, query=query)
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert body["data"] is None
    assert (await post(caller, digest=wrong))["errors"] == [NOT_FOUND]


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "xyz"}, "hash"],
)
async def test_a_malformed_persisted_query_extension_is_refused(
    caller: Caller, persisted: object
) -> None:
    response = await send(
        caller, "POST", json={"extensions": {"persistedQuery": persisted}}, headers=caller.headers
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_INVALID"


async def test_a_query_that_does_not_validate_is_not_kept(caller: Caller) -> None:
    query = unique_query("noSuchField")
    body = await post(caller, digest=sha256(query), query=query)
    assert "noSuchField" in body["errors"][0]["message"]
    assert (await post(caller, digest=sha256(query)))["errors"] == [NOT_FOUND]


async def test_a_query_over_the_size_bound_runs_but_is_not_kept(caller: Caller) -> None:
    query = unique_query() + "\n# " + "x" * Settings().apq_max_query_bytes
    body = await post(caller, digest=sha256(query), query=query)
    assert "errors" not in body and body["data"]["actionTypes"]
    assert (await post(caller, digest=sha256(query)))["errors"] == [NOT_FOUND]


async def test_persisted_queries_need_an_api_key(caller: Caller) -> None:
    query = unique_query()
    response = await send(
        caller, "POST", json={"query": query, "extensions": extensions(sha256(query))}
    )
    assert response.status_code == 401


async def test_the_store_keeps_at_most_its_bound_dropping_the_least_recently_used(
    runtime: Runtime, settings: Settings
) -> None:
    namespace = f"apq-test-{uuid.uuid4().hex}"
    bounded = settings.model_copy(update={"apq_max_queries": 3})
    store = QueryStore.from_settings(runtime.redis, bounded, namespace)
    queries = [unique_query() for _ in range(5)]
    for query in queries[:3]:
        assert await store.put(sha256(query), query)
    assert await store.get(sha256(queries[0])) == queries[0]  # now the most recently used
    for query in queries[3:]:
        assert await store.put(sha256(query), query)

    kept = {q for q in queries if await store.get(sha256(q)) == q}
    assert kept == {queries[0], queries[3], queries[4]}
    assert await runtime.redis.zcard(f"{namespace}-index") == 3
    assert await runtime.redis.ttl(f"{namespace}:{sha256(queries[0])}") > 0


async def test_the_store_without_redis_answers_not_found_and_keeps_nothing(
    settings: Settings,
) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        store = QueryStore.from_settings(redis, settings)
        query = unique_query()
        assert await store.put(sha256(query), query) is False
        assert await store.get(sha256(query)) is None
    finally:
        await redis.aclose()

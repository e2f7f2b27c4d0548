"""Documents too deep, too wide or too costly are refused at validation, with a code.

A refusal at validation comes back with `data: null`: no resolver ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from app.models import Job
from app.runtime import Runtime
from tests.support import Caller

ACTION_FIELDS = (
    "id companyId triggerId type typeName data status executedAt createdAt updatedAt attempts error"
)
# 1 + 100 * (edges 1 + cursor 1 + node 13, pageInfo 3) = 1,801
PAGE = (
    f"actions(first: 100) {{ edges {{ cursor node {{ {ACTION_FIELDS} }} }} "
    "pageInfo { hasNextPage endCursor } }"
)


def aliased(count: int, selection: str) -> str:
    return " ".join(f"a{i}: {selection}" for i in range(count))


async def post(caller: Caller, body: Any, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=caller.base_url, timeout=30) as client:
        return await client.post("/graphql", headers=caller.headers, json=body, **kwargs)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def count_jobs(runtime: Runtime, caller: Caller) -> int:
    async with runtime.sessions() as session:
        total = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(col(Job.company_id) == int(caller.company_id))
        )
    return int(total or 0)


REFUSED: list[tuple[str, str, str, str]] = [
    (
        "depth",
        "{ actions { edges { node { data { a { b { c { d { e { f { g { h } } } } } } } } } } } }",
        "QUERY_TOO_DEEP",
        "fields nest 12 levels, at most 10",
    ),
    ("aliases", "{ " + aliased(31, "__typename") + " }", "TOO_MANY_ALIASES", "31 aliases"),
    (
        # 18 aliases in the text, 34 once the fragment is counted where it is spread.
        "aliases through fragments",
        '{ x: app(id: "1") { ...T } y: app(id: "2") { ...T } } '
        "fragment T on App { " + aliased(16, "tags") + " }",
        "TOO_MANY_ALIASES",
        "34 aliases",
    ),
    ("cost", "{ " + aliased(6, PAGE) + " }", "QUERY_TOO_COSTLY", "would cost 10,806"),
    (
        "cost through fragments",
        "{ ...P } fragment P on Query { " + aliased(6, PAGE) + " }",
        "QUERY_TOO_COSTLY",
        "would cost 10,806",
    ),
    (
        # Each level of fragments spreads the next three times over: 3^12 pages of actions.
        "cost through nested fragments",
        "{ ...F0 } "
        + " ".join(
            f"fragment F{i} on Query {{ x: actions(first: 100) {{ edges {{ node {{ id }} }} }} "
            f"... on Query {{ ...F{i + 1} }} ...F{i + 1} }}"
            for i in range(12)
        )
        + " fragment F12 on Query { z: actionTypes { name } }",
        "QUERY_TOO_COSTLY",
        "would cost",
    ),
    (
        "first over the cap",
        "{ actions(first: 101) { edges { cursor } } }",
        "OUT_OF_RANGE",
        "first must be between 0 and 100",
    ),
    (
        "negative first",
        "{ dashboardNotifications(first: -1) { id } }",
        "OUT_OF_RANGE",
        "first must be between 0 and 100",
    ),
    (
        "tokens",
        "{ " + "actionTypes { name } " * 600 + "}",
        "TOO_MANY_TOKENS",
        "more than 2000 tokens",
    ),
    (
        "introspection",
        "{ __schema { types { name } } }",
        "INTROSPECTION_DISABLED",
        "introspection is disabled",
    ),
]


@pytest.mark.parametrize(
    ("query", "code", "says"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
async def test_a_document_over_a_limit_is_refused_with_a_code(
    caller: Caller, query: str, code: str, says: str
) -> None:
    response = await post(caller, {"query": query})
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None, body
    assert code in codes(body), body
    assert any(says in e["message"] for e in body["errors"]), body


async def test_five_full_pages_are_within_the_cost_limit(caller: Caller) -> None:
    data = await caller.graphql("{ " + aliased(5, PAGE) + " }")
    assert data["a0"]["edges"] == [] and data["a4"]["pageInfo"]["hasNextPage"] is False


async def test_a_variable_first_over_the_cap_is_refused(caller: Caller) -> None:
    body = await caller.graphql_raw(
        "query($n: Int) { actions(first: $n) { edges { cursor } } }", {"n": 101}
    )
    assert body["data"] is None and codes(body) == ["OUT_OF_RANGE"], body


async def test_a_refused_mutation_runs_none_of_its_fields(caller: Caller, runtime: Runtime) -> None:
    """31 aliased createJob: refused whole, before the first resolver, so no job exists."""
    mutation = "mutation { " + aliased(31, 'createJob(input: {title: "x"}) { job { id } }') + " }"
    body = (await post(caller, {"query": mutation})).json()
    assert body["data"] is None and codes(body) == ["TOO_MANY_ALIASES"], body
    assert await count_jobs(runtime, caller) == 0


async def test_batching_is_off(caller: Caller, runtime: Runtime) -> None:
    batch = [{"query": 'mutation { createJob(input: {title: "x"}) { job { id } } }'}] * 2
    response = await post(caller, batch)
    assert response.status_code == 400
    assert codes(response.json()) == ["BATCHING_DISABLED"]
    assert await count_jobs(runtime, caller) == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_413(caller: Caller, runtime: Runtime, chunked: bool) -> None:
    title = "x" * 70_000
    body = json.dumps(
        {
            "query": "mutation($t: String!) { createJob(input: {title: $t}) { job { id } } }",
            "variables": {"t": title},
        }
    ).encode()

    async def chunks() -> Any:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    content: Any = chunks() if chunked else body
    async with httpx.AsyncClient(base_url=caller.base_url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            content=content,
            headers={**caller.headers, "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert codes(response.json()) == ["BODY_TOO_LARGE"]
    assert await count_jobs(runtime, caller) == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{not json", "application/json"), (b"query=x", "text/plain"), (b"{}", "application/json")],
    ids=["malformed JSON", "not JSON", "no query"],
)
async def test_malformed_requests_get_graphql_errors(
    caller: Caller, content: bytes, content_type: str
) -> None:
    async with httpx.AsyncClient(base_url=caller.base_url, timeout=30) as client:
        response = await client.post(
            "/graphql", content=content, headers={**caller.headers, "Content-Type": content_type}
        )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"], response.text


@pytest.fixture(scope="module")
def impatient_gateway(start_gateway: Callable[..., str]) -> str:
    """A gateway whose time limit has passed before any request can do anything."""
    return start_gateway("impatient", REQUEST_TIMEOUT_SECONDS="0.000001")


async def test_a_request_over_the_time_limit_is_stopped_with_a_code(
    caller: Caller, runtime: Runtime, impatient_gateway: str
) -> None:
    impatient = caller.at(impatient_gateway)
    for query in (
        'mutation { createJob(input: {title: "late"}) { job { id } } }',
        "{ actions { edges { cursor } } }",
    ):
        body = await impatient.graphql_raw(query)
        assert body["data"] is None and codes(body) == ["TIMEOUT"], body
        assert "took longer than" in body["errors"][0]["message"]
    # Stopping it left no transaction open (SQLite would stay locked): writing still works,
    # here and through the shared gateway, and the stopped job is whole if it was saved.
    await caller.create_job("on time")
    async with runtime.sessions() as session:
        jobs = (
            await session.scalars(select(Job).where(col(Job.company_id) == int(caller.company_id)))
        ).all()
    assert sorted(j.title for j in jobs) in (["on time"], ["late", "on time"])
    assert all(j.status == "open" for j in jobs)

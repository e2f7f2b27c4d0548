"""Arbitrary and hostile input is refused or harmless: never a 500, never a stored row.

Properties (hypothesis) throw generated JSON at action data, trigger data and REST bodies, and
token soup at the GraphQL parser; a corpus adds documents built to hurt (tests/hostile.py).
Each test counts the caller's rows before and after, and reads the gateway's log for errors.
The examples run in a thread with a blocking client: hypothesis drives plain functions.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from sqlmodel import col, func, select

from app import models
from app.runtime import Runtime
from tests.hostile import (
    HOSTILE_DOCUMENTS,
    action_inputs,
    rest_action_bodies,
    rest_trigger_bodies,
    token_soup,
    trigger_inputs,
)
from tests.support import Caller

EXAMPLES = 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Lines of a log that mean the server failed: a 5xx, a traceback, an error-level record.
SERVER_ERROR = re.compile(r'" 5\d\d\b|"status": ?5\d\d|Traceback|\bERROR\b|"level": ?"error"')
TABLES: list[Any] = [
    models.Action,
    models.Job,
    models.App,
    models.Tag,
    models.Note,
    models.DashboardNotification,
    models.Trigger,
    models.WorkflowEvent,
]
# What an accepted action leaves when the worker runs it (at most one row each).
EFFECTS = {"Tag", "Note", "DashboardNotification"}


async def stored(runtime: Runtime, caller: Caller) -> dict[str, int]:
    """How many rows of each table the caller's company has."""
    counts: dict[str, int] = {}
    async with runtime.sessions() as session:
        for table in TABLES:
            company = col(table.company_id)
            statement = (
                select(func.count()).select_from(table).where(company == int(caller.company_id))
            )
            counts[table.__name__] = (await session.execute(statement)).scalar_one()
    return counts


class Tally:
    """What a property sent, and how much of it the gateway accepted (stored)."""

    def __init__(self) -> None:
        self.tried = 0
        self.accepted: dict[str, int] = {}

    def accept(self, table: str) -> None:
        self.accepted[table] = self.accepted.get(table, 0) + 1


def server_errors(log: Path, since: int) -> list[str]:
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return [line for line in text.splitlines() if SERVER_ERROR.search(line)]


def error_codes(body: dict[str, Any]) -> list[Any]:
    """The codes of a body's errors: REST's `errors[].code`, GraphQL's `extensions.code`.

    Not a search of the whole text: a fuzzed key may itself be "INTERNAL", and an answer
    that names it ("unknown key 'INTERNAL'") is the right one.
    """
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [
        error.get("code", (error.get("extensions") or {}).get("code"))
        for error in errors
        if isinstance(error, dict)
    ]


def no_internal_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    assert "INTERNAL" not in error_codes(body), json.dumps(body)
    return body


async def fuzz(
    caller: Caller,
    runtime: Runtime,
    gateway_log: Path,
    run: Callable[[httpx.Client, Tally], None],
) -> Tally:
    """Run a property against the gateway; check it stored only what it accepted, and that
    the gateway logged no failure meanwhile."""
    before = await stored(runtime, caller)
    mark = await asyncio.to_thread(lambda: gateway_log.stat().st_size)
    tally = Tally()

    def examples() -> None:
        with httpx.Client(base_url=caller.base_url, headers=caller.headers, timeout=30) as client:
            run(client, tally)

    await asyncio.to_thread(examples)
    after = await stored(runtime, caller)
    grown = {t: after[t] - before[t] for t in before}
    # Exactly what was accepted, and no more effects than accepted actions (they run async).
    assert {t: n for t, n in grown.items() if t not in EFFECTS} == {
        t: tally.accepted.get(t, 0) for t in grown if t not in EFFECTS
    }, (before, after)
    assert sum(grown[t] for t in EFFECTS) <= tally.accepted.get("Action", 0), (before, after)
    assert await asyncio.to_thread(server_errors, gateway_log, mark) == []
    print(f"\n{tally.tried} inputs tried, {sum(tally.accepted.values())} accepted")
    return tally


CREATE_ACTION = (
    "mutation($type: String!, $data: JSON!) { createAction(input: {type: $type, data: $data}) "
    "{ action { id } errors { field message code } } }"
)
CREATE_TRIGGER = (
    "mutation($event: TriggerEvent!, $type: String!, $data: JSON!) { createTrigger(input: "
    "{event: $event, actionType: $type, data: $data}) { trigger { id } errors { code } } }"
)


def graphql(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    # json.dumps, not httpx's encoder: it writes lone surrogates and integers of any size.
    body = json.dumps({"query": query, "variables": variables})
    response = client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    return no_internal_error(response)


async def test_graphql_action_data(caller: Caller, runtime: Runtime, gateway_log: Path) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        @FUZZ
        @given(action_inputs)
        def example(case: tuple[str, Any]) -> None:
            tally.tried += 1
            body = graphql(client, CREATE_ACTION, {"type": case[0], "data": case[1]})
            payload = (body.get("data") or {}).get("createAction")
            if payload is None:
                assert body["errors"], body  # the variables did not fit the schema
            elif payload["action"] is not None:
                tally.accept("Action")  # a valid message for post_dashboard_notification
            else:
                assert payload["errors"], payload

        example()

    tally = await fuzz(caller, runtime, gateway_log, run)
    assert tally.tried >= EXAMPLES


async def test_graphql_trigger_data(caller: Caller, runtime: Runtime, gateway_log: Path) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        @FUZZ
        @given(trigger_inputs)
        def example(case: tuple[str, Any]) -> None:
            tally.tried += 1
            variables = {"event": "JOB_STATUS_CHANGED", "type": case[0], "data": case[1]}
            body = graphql(client, CREATE_TRIGGER, variables)
            payload = (body.get("data") or {}).get("createTrigger")
            if payload is not None and payload["trigger"] is not None:
                tally.accept("Trigger")
            elif payload is not None:
                assert payload["errors"], payload

        example()

    tally = await fuzz(caller, runtime, gateway_log, run)
    assert tally.tried >= EXAMPLES


def rest_post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    content = json.dumps(body)
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})
    no_internal_error(response)
    assert response.status_code in (201, 400, 404, 413, 422), response.text
    return response


async def test_rest_action_bodies(caller: Caller, runtime: Runtime, gateway_log: Path) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        @FUZZ
        @given(rest_action_bodies)
        def example(body: Any) -> None:
            tally.tried += 1
            if rest_post(client, "/api/v1/actions", body).status_code == 201:
                tally.accept("Action")

        example()

    tally = await fuzz(caller, runtime, gateway_log, run)
    assert tally.tried >= EXAMPLES


async def test_rest_trigger_bodies(caller: Caller, runtime: Runtime, gateway_log: Path) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        @FUZZ
        @given(rest_trigger_bodies)
        def example(body: Any) -> None:
            tally.tried += 1
            if rest_post(client, "/api/v1/triggers", body).status_code == 201:
                tally.accept("Trigger")

        example()

    tally = await fuzz(caller, runtime, gateway_log, run)
    assert tally.tried >= EXAMPLES


async def test_graphql_token_soup(caller: Caller, runtime: Runtime, gateway_log: Path) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        @FUZZ
        @given(token_soup)
        def example(document: str) -> None:
            tally.tried += 1
            body = graphql(client, document, {})
            # Soup may happen to be a valid mutation; count what it made.
            for value in (body.get("data") or {}).values():
                if isinstance(value, dict) and value.get("job"):
                    tally.accept("Job")

        example()

    tally = await fuzz(caller, runtime, gateway_log, run)
    assert tally.tried >= EXAMPLES


@pytest.mark.parametrize(
    "document", [d for _, d in HOSTILE_DOCUMENTS], ids=[n for n, _ in HOSTILE_DOCUMENTS]
)
async def test_hostile_documents(
    document: str, caller: Caller, runtime: Runtime, gateway_log: Path
) -> None:
    def run(client: httpx.Client, tally: Tally) -> None:
        tally.tried += 1
        response = client.post("/graphql", json={"query": document})
        body = no_internal_error(response)
        assert response.status_code in (200, 400, 413), response.text
        if body.get("errors"):
            assert all(e.get("extensions", {}).get("code") for e in body["errors"]), body

    await fuzz(caller, runtime, gateway_log, run)

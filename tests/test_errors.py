"""What errors reveal: internal failures are masked and logged; production hides the schema."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query

from tests.support import ROOT, Caller, command


@pytest.fixture(scope="module")
def broken(
    start_gateway: Callable[..., str], env: dict[str, str], artifacts: Path
) -> tuple[Caller, Path]:
    """A gateway whose database lost its `action` table: every read of actions fails inside."""
    database = artifacts / "broken.db"
    own = {**os.environ, **env, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    subprocess.run(command("migrate"), env=own, check=True, capture_output=True, cwd=ROOT)
    created = subprocess.run(
        command("companies", "create", "Broken", "--json"),
        env=own,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    company = json.loads(created.stdout)
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE action")
    base_url = start_gateway("broken", DATABASE_URL=own["DATABASE_URL"])
    return Caller(base_url, company["company_id"], company["api_key"]), artifacts / (
        "gateway-broken.log"
    )


async def test_an_internal_error_is_masked_and_logged_with_its_request_id(
    broken: tuple[Caller, Path],
) -> None:
    caller, log = broken
    async with httpx.AsyncClient(base_url=caller.base_url) as client:
        response = await client.post(
            "/graphql", json={"query": "{ actions { edges { cursor } } }"}, headers=caller.headers
        )
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    request_id = error["extensions"]["requestId"]
    # The same id as the response's header, which every log line of the request carries.
    assert response.headers["x-request-id"] == request_id
    assert error["message"] == f"internal error; quote request id {request_id} when reporting it"
    shown = json.dumps(body).lower()
    for secret in ("sqlite", "select", "no such table", "traceback", "operationalerror", ".py"):
        assert secret not in shown, shown
    # The server's log has the cause, under the same id.
    logged = log.read_text()
    assert re.search(rf"request id {request_id}.*?no such table: action", logged, re.DOTALL)


async def test_production_hides_introspection_and_suggestions(caller: Caller) -> None:
    body = await caller.graphql_raw(get_introspection_query())
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTROSPECTION_DISABLED"}
    body = await caller.graphql_raw("{ actionTipes { name } action(id: 1) { stauts } }")
    messages = [e["message"] for e in body["errors"]]
    assert messages == [
        "Cannot query field 'actionTipes' on type 'Query'.",
        "Cannot query field 'stauts' on type 'Action'.",
    ]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    body = await caller.graphql_raw(
        "query($s: ActionStatus) { actions(status: $s) { edges { cursor } } }", {"s": "PENDNG"}
    )
    assert "Did you mean" not in json.dumps(body) and "PENDNG" in json.dumps(body)


async def test_dev_keeps_introspection_suggestions_and_the_explorer(
    caller: Caller, dev_gateway: str
) -> None:
    dev = caller.at(dev_gateway)
    # The explorer's own introspection query: 15 levels deep, exempt from the limits.
    schema = await dev.graphql(get_introspection_query(descriptions=True))
    assert "actionTypes" in json.dumps(schema["__schema"])
    body = await dev.graphql_raw("{ actionTipes { name } }")
    assert "Did you mean 'actionTypes'" in body["errors"][0]["message"]
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{dev_gateway}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

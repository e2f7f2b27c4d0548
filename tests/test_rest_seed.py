"""The vendor's document, example by example: what it shows is what the gateway answers.

The examples are in `tests/seed/`, copied from the document as they are. Values the server
assigns (ids, timestamps) are compared by type and format; everything else by value.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app.actions import REGISTRY
from tests.support import Caller

SEED = Path(__file__).parent / "seed"
DIGITS = re.compile(r"^[0-9]+$")
# The format of the document's timestamps: "2020-02-13T16:42:00Z".
TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
ASSIGNED = {
    "id": DIGITS,
    "company_id": DIGITS,
    "executed_at": TIMESTAMP,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
# What records add to the document's fields (CONTRACT.md: "may add status and error").
ADDED = ["status", "error"]


def example(name: str) -> Any:
    return json.loads((SEED / f"{name}.json").read_text())


def for_app(document_example: dict[str, Any], app_id: int) -> dict[str, Any]:
    """The example about our application instead of the document's app 1."""
    changed = copy.deepcopy(document_example)
    changed["data"]["app_id"] = app_id
    return changed


def assert_like(record: dict[str, Any], expected: dict[str, Any]) -> None:
    """The example's fields, in its order, then ADDED; assigned values by format."""
    assert list(record) == [*expected, *ADDED], list(record)
    for key, value in expected.items():
        if key in ASSIGNED and value is not None:
            assert isinstance(record[key], str), (key, record[key])
            assert ASSIGNED[key].match(record[key]), (key, record[key])
        else:
            assert record[key] == value, (key, record[key], value)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_catalogue_has_the_documents_entry_for_tag_app(caller: Caller) -> None:
    response = await caller.rest("GET", "/workflow/actions")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    catalogue = response.json()
    entries = {name: entry for item in catalogue for name, entry in item.items()}
    for item in example("catalogue"):
        for name, entry in item.items():
            assert entries[name] == entry
            # Field for field, in the document's order too.
            assert json.dumps(entries[name]) == json.dumps(entry)


async def test_catalogue_lists_every_registered_type_in_the_documents_shape(
    caller: Caller,
) -> None:
    catalogue = (await caller.rest("GET", "/workflow/actions")).json()
    assert all(isinstance(item, dict) and len(item) == 1 for item in catalogue), catalogue
    assert [next(iter(item)) for item in catalogue] == list(REGISTRY)
    assert catalogue == [
        {
            "note_app": {
                "create_trigger": {"required_data": {"note_text": {"type": "string"}}},
                "create_action": {
                    "required_data": {
                        "app_id": {"type": "integer"},
                        "note_text": {"type": "string"},
                    }
                },
            }
        },
        {
            "post_dashboard_notification": {
                "create_trigger": {"required_data": {"message": {"type": "string"}}},
                "create_action": {
                    "required_data": {"message": {"type": "string"}},
                    "optional_data": {"app_id": {"type": "integer"}, "job_id": {"type": "integer"}},
                },
            }
        },
        {
            "set_job_status": {
                "create_trigger": {
                    "required_data": {
                        "status": {
                            "type": "string",
                            "allowed_values": ["draft", "open", "on_hold", "closed"],
                        }
                    }
                },
                "create_action": {
                    "required_data": {
                        "job_id": {"type": "integer"},
                        "status": {
                            "type": "string",
                            "allowed_values": ["draft", "open", "on_hold", "closed"],
                        },
                    }
                },
            }
        },
        {
            "tag_app": {
                "create_trigger": {"required_data": {"tag_text": {"type": "string"}}},
                "create_action": {
                    "required_data": {"app_id": {"type": "integer"}, "tag_text": {"type": "string"}}
                },
            }
        },
    ]


async def test_the_documents_create_request_gets_the_documents_response(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    response = await caller.rest(
        "POST", "/actions", json=for_app(example("create_request"), app_id)
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert_like(record, for_app(example("create_response"), app_id))
    assert record["company_id"] == caller.company_id
    assert record["created_at"] == record["updated_at"]
    assert record["status"] == "PENDING" and record["error"] is None
    assert response.headers["location"].endswith(f"/api/v1/actions/{record['id']}")


async def test_the_documents_status_call_shows_when_it_was_executed(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    created = (
        await caller.rest("POST", "/actions", json=for_app(example("create_request"), app_id))
    ).json()
    await caller.wait_for_status(created["id"], {"EXECUTED"})

    response = await caller.rest("GET", f"/actions/{created['id']}")
    assert response.status_code == 200
    record = response.json()
    assert_like(record, for_app(example("status_response"), app_id))
    assert record["id"] == created["id"] and record["created_at"] == created["created_at"]
    assert when(record["created_at"]) <= when(record["executed_at"]) <= when(record["updated_at"])
    assert record["status"] == "EXECUTED"


async def test_a_client_that_follows_the_document_word_for_word(caller: Caller) -> None:
    """List the types, read what tag_app needs, create it, poll until executed_at is set."""
    # The document takes an application as given; ours is made through GraphQL.
    app_id = int(await caller.create_app(await caller.create_job()))
    async with httpx.AsyncClient(
        base_url=caller.base_url, headers=caller.headers, timeout=30
    ) as api:
        types = (await api.get("/api/v1/workflow/actions")).json()
        tag_app = next(item["tag_app"] for item in types if "tag_app" in item)
        required = tag_app["create_action"]["required_data"]
        values = {"integer": app_id, "string": "Tagging an app via API!"}
        data = {key: values[spec["type"]] for key, spec in required.items()}
        assert data == {"app_id": app_id, "tag_text": "Tagging an app via API!"}

        created = await api.post("/api/v1/actions", json={"type": "tag_app", "data": data})
        assert created.status_code == 201, created.text
        action = created.json()
        assert action["executed_at"] is None

        deadline = time.monotonic() + 30
        while True:
            polled = await api.get(f"/api/v1/actions/{action['id']}")
            assert polled.status_code == 200, polled.text
            if polled.json()["executed_at"] is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"action {action['id']} was not executed: {polled.text}")
            await asyncio.sleep(0.05)

    assert polled.json()["data"] == data and polled.json()["type"] == "TagApp"
    tags = await caller.graphql("query($id: ID!) { app(id: $id) { tags } }", {"id": str(app_id)})
    assert tags["app"]["tags"] == ["Tagging an app via API!"]

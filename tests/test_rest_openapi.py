"""`GET /api/v1/openapi.json`: a valid OpenAPI document of exactly the routes that exist.

Every REST call made through `Caller.rest` in the other tests is checked against it too
(`tests/openapi_check.py`): its status is listed, and its body matches the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec
from starlette.routing import Route

from app.actions import REGISTRY
from app.rest import routes
from app.rest.openapi import DOCUMENT
from tests.openapi_check import validate, validator
from tests.support import Caller

CREATE_ACTION = {"$ref": "#/components/schemas/CreateAction"}


async def test_the_served_document_is_valid_openapi(caller: Caller) -> None:
    response = await caller.rest("GET", "/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document == json.loads(json.dumps(DOCUMENT))
    validate_spec(document)
    assert document["servers"] == [{"url": "/api/v1"}]


def test_it_describes_exactly_the_routes_that_exist() -> None:
    existing = set()
    for route in routes:
        assert isinstance(route, Route)
        assert route.methods is not None
        # Starlette answers HEAD wherever GET is allowed: not an operation of its own.
        existing |= {(route.path, method) for method in route.methods - {"HEAD"}}
    described = {
        (path, method.upper())
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
    }
    assert described == existing


def test_every_operation_documents_the_missing_key() -> None:
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            assert "401" in operation["responses"]


def seed_request() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (Path(__file__).parent / "seed" / "create_request.json").read_text()
    )
    return loaded


def test_the_documents_request_matches_the_create_schema() -> None:
    validate(CREATE_ACTION, seed_request())


@pytest.mark.parametrize(
    "body",
    [
        {"type": "tag_app", "data": {"app_id": 1}},
        {"type": "tag_app", "data": {"app_id": "1", "tag_text": "x"}},
        {"type": "tag_app", "data": {"app_id": 1, "tag_text": "   "}},
        {"type": "tag_app", "data": {"app_id": 1, "tag_text": "x", "colour": "red"}},
        {"type": "set_job_status", "data": {"job_id": 1, "status": "archived"}},
        {"type": "send_email", "data": {}},
        {"type": "tag_app", "data": {"app_id": 1, "tag_text": "x"}, "trigger_id": None},
    ],
)
def test_the_create_schema_refuses_what_the_gateway_refuses(body: dict[str, Any]) -> None:
    assert not validator(CREATE_ACTION).is_valid(body)


def test_the_create_schema_has_one_branch_per_registered_type() -> None:
    mapping = DOCUMENT["components"]["schemas"]["CreateAction"]["discriminator"]["mapping"]
    assert list(mapping) == list(REGISTRY)
    validate(
        CREATE_ACTION,
        {"type": "post_dashboard_notification", "data": {"message": "hi", "app_id": None}},
    )

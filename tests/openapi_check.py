"""Checking a REST response against the OpenAPI description: its status is documented for the
operation, and its body matches the documented schema."""

from __future__ import annotations

from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator

from app.rest.common import PREFIX
from app.rest.openapi import DOCUMENT


def operation(method: str, path: str) -> dict[str, Any]:
    """The described operation for a concrete path under PREFIX, e.g. GET /actions/12."""
    parts = path.split("/")
    for template, operations in DOCUMENT["paths"].items():
        wanted = template.split("/")
        matches = len(wanted) == len(parts) and all(
            w == p or (w.startswith("{") and p) for w, p in zip(wanted, parts, strict=True)
        )
        if matches and method.lower() in operations:
            found: dict[str, Any] = operations[method.lower()]
            return found
    raise AssertionError(f"{method} {path} is not in the OpenAPI description")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validator(schema: dict[str, Any]) -> OAS30Validator:
    """For a schema of the description, its $refs resolved in the description."""
    return OAS30Validator({**schema, "components": DOCUMENT["components"]})


def validate(schema: dict[str, Any], value: Any) -> None:
    validator(schema).validate(value)


def assert_documented(response: httpx.Response) -> None:
    request = response.request
    path = request.url.path.removeprefix(PREFIX)
    responses = operation(request.method, path)["responses"]
    described = responses.get(str(response.status_code))
    assert described is not None, (
        f"{request.method} {path} answered {response.status_code}, "
        f"which its description does not list ({', '.join(responses)})"
    )
    content = resolve(described)["content"]
    assert response.headers["content-type"] in content, response.headers["content-type"]
    validate(content[response.headers["content-type"]]["schema"], response.json())

"""Checking action data against a type's requirements: all problems at once, each naming its key."""

from __future__ import annotations

from typing import Any

from app.actions.base import MAX_ID, MAX_STRING_LENGTH, DataField, DataRequirements
from app.errors import ErrorCode, Problem

DATA_FIELD = "data"


def _shown(key: str) -> str:
    # Keys come from the caller: never echo an unbounded one back.
    return key if len(key) <= 60 else key[:57] + "..."


def _is_unicode(value: str) -> bool:
    # A GraphQL string literal may spell a lone surrogate ("\\ud800"): no database stores it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_value(spec: DataField, value: Any, path: str) -> Problem | None:
    if spec.kind == "integer":
        # bool is an int in Python, and 1.0 is a float in JSON: neither is an integer here.
        if isinstance(value, bool) or not isinstance(value, int):
            return Problem(path, f"{spec.name} must be an integer", ErrorCode.INVALID_TYPE)
        if spec.references is not None and not 1 <= value <= MAX_ID:
            return Problem(path, f"{spec.name} must be a positive id", ErrorCode.OUT_OF_RANGE)
        return None
    if spec.kind == "object":
        if not isinstance(value, dict):
            return Problem(path, f"{spec.name} must be a JSON object", ErrorCode.INVALID)
        return None
    if not isinstance(value, str):
        return Problem(path, f"{spec.name} must be a string", ErrorCode.INVALID_TYPE)
    if not value.strip():
        return Problem(path, f"{spec.name} must not be empty", ErrorCode.BLANK)
    if len(value) > MAX_STRING_LENGTH:
        return Problem(
            path,
            f"{spec.name} must be at most {MAX_STRING_LENGTH} characters (got {len(value)})",
            ErrorCode.TOO_LONG,
        )
    if "\x00" in value:
        return Problem(path, f"{spec.name} must not contain NUL characters", ErrorCode.INVALID)
    if not _is_unicode(value):
        return Problem(
            path, f"{spec.name} must be valid Unicode (it has a lone surrogate)", ErrorCode.INVALID
        )
    if spec.allowed_values is not None and value not in spec.allowed_values:
        allowed = ", ".join(spec.allowed_values)
        return Problem(path, f"{spec.name} must be one of: {allowed}", ErrorCode.INVALID_CHOICE)
    return None


def check_data(requirements: DataRequirements, data: Any, path: str = DATA_FIELD) -> list[Problem]:
    """Every structural problem of `data`; references to rows are checked by the service.

    `path` names `data` in the request ("" for a whole request body): fields are `path.key`.
    """

    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    if not isinstance(data, dict):
        return [
            Problem(path or None, f"{path or 'the body'} must be a JSON object", ErrorCode.INVALID)
        ]
    problems: list[Problem] = []
    known = {f.name for f in requirements.fields}
    for key in data:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            problems.append(
                Problem(
                    at(_shown(str(key))),
                    f"unknown key {_shown(str(key))!r} (allowed: {allowed})",
                    ErrorCode.UNKNOWN_FIELD,
                )
            )
    for spec in requirements.required:
        if spec.name not in data:
            problems.append(Problem(at(spec.name), f"{spec.name} is required", ErrorCode.REQUIRED))
    for spec in requirements.fields:
        if spec.name in data:
            # An optional key given as null is the same as leaving it out.
            if data[spec.name] is None and spec not in requirements.required:
                continue
            problem = check_value(spec, data[spec.name], at(spec.name))
            if problem is not None:
                problems.append(problem)
    return problems

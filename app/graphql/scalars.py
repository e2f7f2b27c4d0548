"""Scalars of our own. GraphQL's Int is 32 bits; change sequence numbers may outgrow it."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

BigInt = NewType("BigInt", int)

# JavaScript's numbers are exact up to 2^53 - 1.
MAX_BIG_INT = 2**53 - 1


def _parse_big_int(value: Any) -> BigInt:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BIG_INT:
        raise ValueError(f"BigInt must be an integer from 0 to {MAX_BIG_INT}")
    return BigInt(value)


BIG_INT = strawberry.scalar(
    name="BigInt",
    description="A non-negative integer of up to 53 bits, exact in JSON and JavaScript.",
    serialize=int,
    parse_value=_parse_big_int,
)

SCALARS: dict[object, ScalarDefinition] = {BigInt: BIG_INT}

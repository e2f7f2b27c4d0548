"""What an action type is: its data requirements and its executor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

# "object" is for request envelopes (REST's `data`); action data holds integers and strings.
DataKind = Literal["integer", "string", "object"]
# A reference names a table whose row must exist in the caller's company.
Reference = Literal["app", "job"]

MAX_STRING_LENGTH = 1000
# Ids are INTEGER columns: 32 bits on PostgreSQL. A larger number names no row, and must not
# reach the database (asyncpg refuses to send it, and the request would fail with a 500).
MAX_ID = 2**31 - 1

Executor = Callable[["AsyncSession", "Action"], Awaitable[None]]


@dataclass(frozen=True)
class DataField:
    """One key of an action's `data`."""

    name: str
    kind: DataKind
    description: str
    allowed_values: tuple[str, ...] | None = None
    references: Reference | None = None
    # What typed clients call the allowed values (a GraphQL enum), e.g. JobStatus.
    enum_name: str | None = None


@dataclass(frozen=True)
class DataRequirements:
    required: tuple[DataField, ...] = ()
    optional: tuple[DataField, ...] = ()

    @property
    def fields(self) -> tuple[DataField, ...]:
        return self.required + self.optional


@dataclass(frozen=True)
class ActionType:
    """An action type, defined once; validation, the worker and both APIs read it."""

    name: str  # as in REST: tag_app
    type_name: str  # as in the vendor's records: TagApp
    description: str
    create_action: DataRequirements
    # The keys a trigger stores; the triggering event supplies the rest of create_action.
    create_trigger: DataRequirements
    execute: Executor = field(compare=False)


def field_lookup(requirements: DataRequirements) -> dict[str, DataField]:
    return {f.name: f for f in requirements.fields}


def as_int(data: dict[str, Any], key: str) -> int:
    """Read a key that validation guaranteed to be an integer."""
    value = data[key]
    assert isinstance(value, int)
    return value

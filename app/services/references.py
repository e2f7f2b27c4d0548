"""Checking that ids given by a caller name rows of the caller's company."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from app.actions.base import MAX_ID, DataField, DataRequirements, Reference
from app.errors import ErrorCode, Problem
from app.models import App, Job

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_TABLES: dict[Reference, type[App] | type[Job]] = {"app": App, "job": Job}


async def exists(session: AsyncSession, reference: Reference, company_id: int, row_id: int) -> bool:
    if not 1 <= row_id <= MAX_ID:
        return False  # no row has it, and the database would refuse the number
    table = _TABLES[reference]
    found = await session.scalar(
        select(col(table.id)).where(col(table.id) == row_id, col(table.company_id) == company_id)
    )
    return found is not None


async def check_references(
    session: AsyncSession, company_id: int, requirements: DataRequirements, data: dict[str, Any]
) -> list[Problem]:
    """A NOT_FOUND problem for each referenced row missing from the company."""
    problems: list[Problem] = []
    spec: DataField
    for spec in requirements.fields:
        value = data.get(spec.name)
        if spec.references is None or value is None:
            continue
        if not await exists(session, spec.references, company_id, value):
            problems.append(
                Problem(
                    f"data.{spec.name}",
                    f"{spec.name}: {spec.references} {value} not found",
                    ErrorCode.NOT_FOUND,
                )
            )
    return problems

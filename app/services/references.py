"""Checking that ids given by a caller name rows of the caller's company."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from app.actions.base import MAX_ID, DataRequirements, Reference
from app.errors import ErrorCode, Problem
from app.models import App, Job

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_TABLES: dict[Reference, type[App] | type[Job]] = {"app": App, "job": Job}

# One request's references to check: its company, what its data needs, and its data.
Check = tuple[int, DataRequirements, dict[str, Any]]


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
    [problems] = await check_references_of(session, [(company_id, requirements, data)])
    return problems


async def check_references_of(
    session: AsyncSession, checks: Sequence[Check]
) -> list[list[Problem]]:
    """`check_references` for many requests at once: one query per table, whatever their number."""
    wanted: dict[Reference, set[int]] = {}
    for _, requirements, data in checks:
        for spec in requirements.fields:
            value = data.get(spec.name)
            if spec.references is not None and value is not None and 1 <= value <= MAX_ID:
                wanted.setdefault(spec.references, set()).add(value)
    # Each table's rows among the ids asked for, with their company: (reference, id, company).
    found: set[tuple[Reference, int, int]] = set()
    for reference, ids in wanted.items():
        table = _TABLES[reference]
        rows = await session.execute(
            select(col(table.id), col(table.company_id)).where(col(table.id).in_(sorted(ids)))
        )
        found |= {(reference, row_id, company) for row_id, company in rows.all() if row_id}
    results: list[list[Problem]] = []
    for company_id, requirements, data in checks:
        problems: list[Problem] = []
        for spec in requirements.fields:
            value = data.get(spec.name)
            if spec.references is None or value is None:
                continue
            if (spec.references, value, company_id) not in found:
                problems.append(
                    Problem(
                        f"data.{spec.name}",
                        f"{spec.name}: {spec.references} {value} not found",
                        ErrorCode.NOT_FOUND,
                    )
                )
        results.append(problems)
    return results

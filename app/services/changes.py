"""Every change to an action goes through here: a conditional update and a sequence stamp.

Each change bumps the action's `version` and takes the next number of its company's change
sequence (`Company.action_sequence`) in the same transaction. The counter row stays locked
until the commit, so a company's numbers are gapless and follow commit order: a subscriber
that has seen number N and sees N + 2 knows that N + 1 is committed and can read it.
Stamping is the last statement of every transaction that changes an action: the counter is
always the last lock taken (after the action rows, and after an insert that may wait on a
unique key), so that no two transactions can wait for each other, and the lock is held only
until the commit.
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from app.models import Action, Company, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def next_sequence(session: AsyncSession, company_id: int, count: int = 1) -> int:
    """Take the company's next `count` change numbers; the last of them. Its row stays locked
    until the commit."""
    value = await session.scalar(
        update(Company)
        .where(col(Company.id) == company_id)
        .values(action_sequence=col(Company.action_sequence) + count)
        .returning(col(Company.action_sequence))
        .execution_options(synchronize_session=False)
    )
    if value is None:
        raise LookupError(f"company {company_id} does not exist")
    return int(value)


async def stamp(session: AsyncSession, action: Action) -> None:
    """Give a changed (or new, flushed) action its number: the last write before the commit."""
    assert action.id is not None, "flush a new action before stamping it"
    if session.get_bind().dialect.name == "postgresql":
        # One round trip: take the number and write it on the action in one statement.
        taken = (
            update(Company)
            .where(col(Company.id) == action.company_id)
            .values(action_sequence=col(Company.action_sequence) + 1)
            .returning(col(Company.action_sequence))
            .cte("taken")
        )
        number = await session.scalar(
            update(Action)
            .where(col(Action.id) == action.id)
            .values(sequence=select(taken.c.action_sequence).scalar_subquery())
            .returning(col(Action.sequence))
            .execution_options(synchronize_session=False)
        )
        if number is None:
            raise LookupError(f"action {action.id} does not exist")
    else:
        number = await next_sequence(session, action.company_id)
        await session.execute(
            update(Action)
            .where(col(Action.id) == action.id)
            .values(sequence=number)
            .execution_options(synchronize_session=False)
        )
    set_committed_value(action, "sequence", int(number))


async def stamp_all(session: AsyncSession, actions: list[Action]) -> None:
    """`stamp` for many changed or new (flushed) actions at once: each company's counter is
    taken once, for all of its actions, in company order (so that two such transactions take
    their counter locks in the same order and never wait for each other in a cycle), and the
    numbers, in id order within a company, are written in one statement."""
    ordered = sorted(actions, key=lambda a: (a.company_id, a.id or 0))
    numbered: list[dict[str, int]] = []
    for company_id, group in groupby(ordered, key=lambda a: a.company_id):
        rows = list(group)
        last = await next_sequence(session, company_id, len(rows))
        for number, row in enumerate(rows, start=last - len(rows) + 1):
            assert row.id is not None, "flush a new action before stamping it"
            numbered.append({"id": row.id, "sequence": number})
            set_committed_value(row, "sequence", number)
    if numbered:
        # By primary key, one executemany.
        await session.execute(update(Action), numbered)


async def update_all(
    session: AsyncSession, condition: ColumnElement[bool], **values: Any
) -> list[Action]:
    """`update_if` for every action where `condition` holds: the updated rows, not stamped."""
    statement = (
        update(Action)
        .where(condition)
        .values(**{"updated_at": utcnow(), **values}, version=col(Action.version) + 1)
        .returning(Action)
        .execution_options(synchronize_session=False)
    )
    return list((await session.scalars(statement)).all())


async def update_if(
    session: AsyncSession, action_id: int, condition: ColumnElement[bool], **values: Any
) -> Action | None:
    """Apply `values` if `condition` holds; the updated row, or None. Not yet stamped."""
    statement = (
        update(Action)
        .where(col(Action.id) == action_id, condition)
        .values(**{"updated_at": utcnow(), **values}, version=col(Action.version) + 1)
        .returning(Action)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(statement)).one_or_none()


async def transition(
    session: AsyncSession, action_id: int, condition: ColumnElement[bool], **values: Any
) -> Action | None:
    """A whole change: `update_if`, then the stamp. None if the condition did not hold."""
    row = await update_if(session, action_id, condition, **values)
    if row is not None:
        await stamp(session, row)
    return row

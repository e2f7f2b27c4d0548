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

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, bindparam, select, update
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


async def stamp_new(session: AsyncSession, actions: list[Action]) -> None:
    """Number a batch of new, flushed actions: each company's counter is taken once, for all
    of its actions in the batch, in the order given.

    The counters are taken in company order, so that two gateways' batches that share
    companies never wait for each other in a cycle. The numbers are then written on the
    batch's own new rows, which no other transaction can see, so no other lock is waited for.
    """
    by_company: dict[int, list[Action]] = {}
    for action in actions:
        assert action.id is not None, "flush new actions before stamping them"
        by_company.setdefault(action.company_id, []).append(action)
    numbered: list[tuple[Action, int]] = []
    for company_id in sorted(by_company):
        batch = by_company[company_id]
        last = await next_sequence(session, company_id, len(batch))
        first = last - len(batch) + 1
        numbered += [(action, first + offset) for offset, action in enumerate(batch)]
    if not numbered:
        return
    table = Action.__table__  # type: ignore[attr-defined]
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("action_id"))
        .values(sequence=bindparam("number")),
        [{"action_id": action.id, "number": number} for action, number in numbered],
    )
    for action, number in numbered:
        set_committed_value(action, "sequence", number)


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

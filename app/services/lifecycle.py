"""What a client may do to an action after creating it: cancel it, or retry it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement
from sqlmodel import col

from app.errors import ErrorCode, Problem, ValidationFailed
from app.events import publish_action
from app.models import Action, ActionStatus
from app.queue import enqueue_action
from app.services.changes import transition

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime


async def cancel_action(rt: Runtime, company_id: int, action_id: int) -> Action:
    """PENDING to CANCELED: it will not run. Refused (INVALID_STATE) in any other status."""
    async with rt.sessions.begin() as session:
        row = await transition(
            session,
            action_id,
            _in_state(company_id, ActionStatus.PENDING),
            status=ActionStatus.CANCELED,
            next_try_at=None,
        )
        if row is None:
            await _refuse(session, company_id, action_id, "only a PENDING action can be canceled")
    assert row is not None
    # A job may still be queued for it; its claim will find the action CANCELED.
    await publish_action(rt.redis, row)
    return row


async def retry_action(rt: Runtime, company_id: int, action_id: int) -> Action:
    """FAILED to PENDING with a fresh set of tries. Refused (INVALID_STATE) otherwise."""
    async with rt.sessions.begin() as session:
        row = await transition(
            session,
            action_id,
            _in_state(company_id, ActionStatus.FAILED),
            status=ActionStatus.PENDING,
            attempts=0,
            error=None,
            next_try_at=None,
            lease_expires_at=None,
        )
        if row is None:
            await _refuse(session, company_id, action_id, "only a FAILED action can be retried")
    assert row is not None and row.id is not None
    await publish_action(rt.redis, row)
    await enqueue_action(rt.redis, row.id, row.version)
    return row


def _in_state(company_id: int, status: ActionStatus) -> ColumnElement[bool]:
    return (col(Action.company_id) == company_id) & (col(Action.status) == status)


async def _refuse(session: AsyncSession, company_id: int, action_id: int, rule: str) -> None:
    current = await session.get(Action, action_id)
    if current is None or current.company_id != company_id:
        raise ValidationFailed(
            [Problem("id", f"action {action_id} not found", ErrorCode.NOT_FOUND)]
        )
    raise ValidationFailed(
        [Problem("id", f"action {action_id} is {current.status}: {rule}", ErrorCode.INVALID_STATE)]
    )

"""Idempotency keys: a client that retries its create call with the same key gets the first
action back instead of a second one, for IDEMPOTENCY_WINDOW after the first call.

The key is stored on the action, unique per company, so two concurrent calls with one key
cannot both insert: the loser reads the winner's action. A key older than the window is
released (set to NULL on the old action) by the next call that brings it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from app.errors import ErrorCode, Problem, ValidationFailed
from app.models import Action, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255
KEY_FIELD = "idempotencyKey"


def check_key(key: str, field: str = KEY_FIELD) -> None:
    """Refuse a key that is empty, too long or not printable ASCII."""
    if not key.strip():
        message = "the idempotency key must not be empty"
    elif len(key) > MAX_KEY_LENGTH:
        message = f"the idempotency key must be at most {MAX_KEY_LENGTH} characters"
    elif not (key.isascii() and key.isprintable()):
        message = "the idempotency key must be printable ASCII"
    else:
        return
    raise ValidationFailed([Problem(field, message, ErrorCode.INVALID)])


async def find_recent(session: AsyncSession, company_id: int, key: str) -> Action | None:
    """The company's action made with this key within the window, if any."""
    action: Action | None = await session.scalar(
        select(Action).where(
            col(Action.company_id) == company_id,
            col(Action.idempotency_key) == key,
            col(Action.created_at) >= utcnow() - IDEMPOTENCY_WINDOW,
        )
    )
    return action


async def release_expired(session: AsyncSession, company_id: int, key: str) -> None:
    """Free the key from an action made with it before the window (it may be reused)."""
    await session.execute(
        update(Action)
        .where(
            col(Action.company_id) == company_id,
            col(Action.idempotency_key) == key,
            col(Action.created_at) < utcnow() - IDEMPOTENCY_WINDOW,
        )
        .values(idempotency_key=None)
        .execution_options(synchronize_session=False)
    )


def replay(earlier: Action, type_name: str, data: Any, field: str = KEY_FIELD) -> Action:
    """The earlier action, if this call asks for the same thing; else refuse the reuse."""
    same_data = isinstance(data, dict) and earlier.data == {
        k: v for k, v in data.items() if v is not None
    }
    if earlier.type == type_name and same_data:
        return earlier
    raise ValidationFailed(
        [
            Problem(
                field,
                f"this idempotency key was used for a different request (action {earlier.id}) "
                "in the last 24 hours",
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        ]
    )

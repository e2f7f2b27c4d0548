"""Who may run an action now: the conditions of a try's claim, and of its commit.

A try claims an action with a conditional update (PENDING and due, or RUNNING past its lease,
to RUNNING with `attempts + 1` and a lease), and writes its effect and EXECUTED only while it
still holds that claim (RUNNING with its `attempts`). Whatever a try does in between, another
try of the same action can only claim it once the lease has lapsed, and then the first one's
commit finds its claim gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, or_, tuple_
from sqlmodel import col

from app.models import Action, ActionStatus, utcnow

if TYPE_CHECKING:
    from app.settings import Settings

# A try's lease outlives its timeout by this much, for clocks that disagree a little.
LEASE_MARGIN = timedelta(seconds=5)
# A job that arrives a moment before its `next_try_at` (another clock) still runs.
EARLY_TOLERANCE = timedelta(seconds=1)


def row_id(action: Action) -> int:
    assert action.id is not None, "a stored action has an id"
    return action.id


def lapsed(now: datetime) -> ColumnElement[bool]:
    """RUNNING, but its try is presumed dead."""
    return (col(Action.status) == ActionStatus.RUNNING) & (col(Action.lease_expires_at) < now)


def waiting(now: datetime) -> ColumnElement[bool]:
    """PENDING, and due for its next try."""
    due = or_(col(Action.next_try_at).is_(None), col(Action.next_try_at) <= now + EARLY_TOLERANCE)
    return (col(Action.status) == ActionStatus.PENDING) & due


def claimable(settings: Settings, now: datetime) -> ColumnElement[bool]:
    """Free for a new try. Spent actions are left to the sweeper, which fails them."""
    fresh = col(Action.attempts) < settings.action_max_tries
    return or_(waiting(now), lapsed(now)) & fresh


def claim_values(settings: Settings, now: datetime) -> dict[str, Any]:
    lease = now + timedelta(seconds=settings.action_timeout_seconds) + LEASE_MARGIN
    return {
        "status": ActionStatus.RUNNING,
        "attempts": col(Action.attempts) + 1,
        "lease_expires_at": lease,
        "next_try_at": None,
    }


def held_by(action: Action) -> ColumnElement[bool]:
    """Still claimed by the try that `action` is the claimed row of."""
    return (col(Action.status) == ActionStatus.RUNNING) & (col(Action.attempts) == action.attempts)


def held_by_any(actions: list[Action]) -> ColumnElement[bool]:
    """Each row still claimed by the try of the claimed row given for it."""
    pairs = [(row_id(a), a.attempts) for a in actions]
    return (col(Action.status) == ActionStatus.RUNNING) & tuple_(
        col(Action.id), col(Action.attempts)
    ).in_(pairs)


def executed_values() -> dict[str, Any]:
    # The same instant for both, as in the vendor's records.
    executed_at = utcnow()
    return {
        "status": ActionStatus.EXECUTED,
        "executed_at": executed_at,
        "updated_at": executed_at,
        "lease_expires_at": None,
        "error": None,
    }

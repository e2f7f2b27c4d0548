"""Creating and reading actions. Executing them is in `app/services/execution.py`."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.actions import REGISTRY, ActionType, DataRequirements, get_action_type
from app.actions.base import MAX_ID
from app.actions.validation import check_data
from app.db import SINGLE_READ
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.events import publish_action
from app.models import Action, ActionStatus, Company
from app.observability.action_metrics import record_created
from app.observability.context import current_request_id
from app.queue import enqueue_action
from app.services import idempotency
from app.services.changes import stamp
from app.services.references import check_references

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.db import SessionFactory
    from app.runtime import Runtime

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_CURSOR_PREFIX = "action:"


@dataclass(frozen=True)
class PageArgs:
    """What the caller's API calls the page size and the cursor, for its error messages."""

    size: str = "first"
    after: str = "after"


def encode_cursor(action_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{action_id}".encode()).decode()


def _cursor_problem(field: str) -> Problem:
    return Problem(field, f"{field} is not a cursor this API gave out", ErrorCode.INVALID)


def decode_cursor(cursor: str, field: str = "after") -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationFailed([_cursor_problem(field)]) from None
    number = text.removeprefix(_CURSOR_PREFIX)
    # Bounded like any id, so that no crafted cursor reaches the database as an overflow.
    digits = number != text and number.isascii() and number.isdigit() and len(number) <= 19
    if not digits or int(number) > MAX_ID:
        raise ValidationFailed([_cursor_problem(field)])
    return int(number)


def require_page(size: int | None, after: str | None = None, args: PageArgs = PageArgs()) -> None:
    """ValidationFailed if the page's size or cursor is out of bounds."""
    problems = page_problems(size, after, args)
    if problems:
        raise ValidationFailed(problems)


def page_problems(
    size: int | None, after: str | None, args: PageArgs = PageArgs()
) -> list[Problem]:
    """What is wrong with a page's size and cursor, named as the caller's API names them."""
    problems: list[Problem] = []
    if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
        problems.append(
            Problem(
                args.size,
                f"{args.size} must be between 0 and {MAX_PAGE_SIZE}",
                ErrorCode.OUT_OF_RANGE,
            )
        )
    if after is not None:
        try:
            decode_cursor(after, args.after)
        except ValidationFailed as exc:
            problems += exc.problems
    return problems


def unknown_type(label: str, field: str = "type") -> Problem:
    known = ", ".join(REGISTRY)
    return Problem(
        field, f"unknown action type {label[:60]!r} (known: {known})", ErrorCode.UNKNOWN_TYPE
    )


def action_type_named(type_name: str, field: str = "type") -> ActionType:
    """The registered type of this name, or ValidationFailed naming the known ones."""
    action_type = get_action_type(type_name)
    if action_type is None:
        raise ValidationFailed([unknown_type(type_name, field)])
    return action_type


async def validate_data(
    session: AsyncSession, company_id: int, requirements: DataRequirements, data: Any
) -> dict[str, Any]:
    """The data, normalised, if it meets the requirements in this company; else ValidationFailed."""
    problems = check_data(requirements, data)
    if problems:
        raise ValidationFailed(problems)
    normalised = {k: v for k, v in data.items() if v is not None}
    problems = await check_references(session, company_id, requirements, normalised)
    if problems:
        raise ValidationFailed(problems)
    return normalised


async def validate_action(
    session: AsyncSession, company_id: int, type_name: str, data: Any
) -> dict[str, Any]:
    """The data, normalised, if it is valid for the type in this company; else ValidationFailed."""
    action_type = action_type_named(type_name)
    return await validate_data(session, company_id, action_type.create_action, data)


async def dispatch(rt: Runtime, actions: list[Action]) -> None:
    """Announce and queue committed actions; from here none can be lost (the sweeper)."""
    for action in actions:
        assert action.id is not None, "dispatch actions only after their transaction committed"
        log.info(
            "action %s created (%s)", action.id, action.type, extra={"action_type": action.type}
        )
        await publish_action(rt.redis, action)
        await enqueue_action(rt.redis, action.id, action.version)
        await record_created(rt.redis, action)


@dataclass(frozen=True)
class Created:
    action: Action
    # True when an earlier call with the same idempotency key made the action.
    replayed: bool


async def create_action(
    rt: Runtime,
    company_id: int,
    type_name: str,
    data: Any,
    *,
    idempotency_key: str | None = None,
    key_field: str = idempotency.KEY_FIELD,
) -> Action:
    """Store the action PENDING, then queue it. Raises ValidationFailed, storing nothing.

    With an idempotency key already used in the last 24 hours, the action made then is
    returned (if this call asks for the same type and data) and nothing new is stored;
    `key_field` names the key in a refusal, as the caller's API names it.
    """
    created = await create_or_replay(
        rt, company_id, type_name, data, idempotency_key=idempotency_key, key_field=key_field
    )
    return created.action


async def create_or_replay(
    rt: Runtime,
    company_id: int,
    type_name: str,
    data: Any,
    *,
    idempotency_key: str | None = None,
    key_field: str = idempotency.KEY_FIELD,
) -> Created:
    """`create_action`, saying whether the action is new or an earlier call's."""
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key, key_field)
        async with rt.sessions() as session:
            earlier = await idempotency.find_recent(session, company_id, idempotency_key)
        if earlier is not None:
            return Created(idempotency.replay(earlier, type_name, data, key_field), True)
    try:
        async with rt.sessions.begin() as session:
            normalised = await validate_action(session, company_id, type_name, data)
            if idempotency_key is not None:
                await idempotency.release_expired(session, company_id, idempotency_key)
            action = Action(
                company_id=company_id,
                type=type_name,
                data=normalised,
                request_id=current_request_id(),
                idempotency_key=idempotency_key,
            )
            session.add(action)
            # Inserted before it is numbered: the company's counter is the last lock taken.
            await session.flush()
            await stamp(session, action)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent call with the same key committed first: answer as it was answered.
        async with rt.sessions() as session:
            earlier = await idempotency.find_recent(session, company_id, idempotency_key)
        if earlier is None:
            raise
        return Created(idempotency.replay(earlier, type_name, data, key_field), True)
    await dispatch(rt, [action])
    return Created(action, False)


async def check_action(rt: Runtime, company_id: int, type_name: str, data: Any) -> list[Problem]:
    """Every problem that creating this action would meet; stores nothing."""
    async with rt.sessions() as session:
        try:
            await validate_action(session, company_id, type_name, data)
        except ValidationFailed as exc:
            return exc.problems
    return []


async def get_action(rt: Runtime, company_id: int, action_id: int) -> Action:
    async with rt.sessions() as session:
        # One statement: no transaction (and on SQLite, no write lock) needed.
        await session.connection(execution_options={SINGLE_READ: True})
        action = await session.get(Action, action_id)
    if action is None or action.company_id != company_id:
        raise NotFound(f"action {action_id} not found")
    return action


async def list_actions(
    rt: Runtime,
    company_id: int,
    *,
    first: int | None = None,
    after: str | None = None,
    status: ActionStatus | None = None,
    type_name: str | None = None,
    args: PageArgs = PageArgs(),
) -> tuple[list[Action], bool]:
    """A page of the company's actions, newest first, and whether more follow."""
    require_page(first, after, args)
    limit = DEFAULT_PAGE_SIZE if first is None else first
    query = select(Action).where(col(Action.company_id) == company_id)
    if after is not None:
        query = query.where(col(Action.id) < decode_cursor(after, args.after))
    if status is not None:
        query = query.where(col(Action.status) == status)
    if type_name is not None:
        query = query.where(col(Action.type) == type_name)
    query = query.order_by(col(Action.id).desc()).limit(limit + 1)
    async with rt.sessions() as session:
        rows = list((await session.scalars(query)).all())
    return rows[:limit], len(rows) > limit


async def latest_sequence(rt: Runtime, company_id: int) -> int:
    """The sequence number of the company's latest action change (0 before the first)."""
    async with rt.sessions() as session:
        value = await session.scalar(
            select(col(Company.action_sequence)).where(col(Company.id) == company_id)
        )
    return int(value or 0)


async def latest_sequences(sessions: SessionFactory, company_ids: list[int]) -> dict[int, int]:
    """The latest change number of each company, in one query per 500 companies."""
    found: dict[int, int] = {}
    async with sessions() as session:
        for start in range(0, len(company_ids), 500):
            chunk = company_ids[start : start + 500]
            rows = await session.execute(
                select(col(Company.id), col(Company.action_sequence)).where(
                    col(Company.id).in_(chunk)
                )
            )
            found.update({cid: seq for cid, seq in rows.all() if cid is not None})
    return found


async def changes_after(rt: Runtime, company_id: int, after: int, limit: int = 200) -> list[Action]:
    """The company's actions whose latest change is numbered after `after`, in that order.

    Each action comes once, in its current state: a subscriber that resumes from `after`
    gets every change it missed, with changes to one action folded into the latest.
    """
    query = (
        select(Action)
        .where(col(Action.company_id) == company_id, col(Action.sequence) > after)
        .order_by(col(Action.sequence))
        .limit(limit)
    )
    async with rt.sessions() as session:
        return list((await session.scalars(query)).all())

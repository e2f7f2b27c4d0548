"""Creating and reading actions. Executing them is in `app/services/execution.py`."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.actions import REGISTRY, ActionType, DataRequirements, get_action_type
from app.actions.base import MAX_ID
from app.actions.validation import check_data
from app.db import SINGLE_READ
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.events import publish_action_in
from app.models import Action, ActionStatus, Company
from app.observability.action_metrics import count_created_in
from app.observability.context import bound, current_request_id
from app.queue import enqueue_actions_in
from app.services import idempotency
from app.services.changes import stamp_all
from app.services.references import check_references, check_references_of

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
    """Announce, queue and count committed actions, all in one round trip to Redis.

    From here none can be lost: if Redis fails, the sweeper queues them, and subscribers
    re-read what they missed.
    """
    if not actions:
        return
    for action in actions:
        assert action.id is not None, "dispatch actions only after their transaction committed"
        with bound(request_id=action.request_id):
            log.info(
                "action %s created (%s)", action.id, action.type, extra={"action_type": action.type}
            )
    try:
        async with rt.redis.pipeline(transaction=False) as pipe:
            for action in actions:
                publish_action_in(pipe, action)
            enqueue_actions_in(pipe, rt.redis, [(a.id, a.version) for a in actions if a.id])
            count_created_in(pipe, actions)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        ids = ", ".join(str(a.id) for a in actions)
        log.warning(
            "could not announce or queue actions %s (%s); the sweeper will queue them", ids, exc
        )


@dataclass(frozen=True)
class Created:
    action: Action
    # True when an earlier call with the same idempotency key made the action.
    replayed: bool


@dataclass(frozen=True)
class NewAction:
    """One call's action, checked as far as it can be without the database, for a batch."""

    company_id: int
    type_name: str
    requirements: DataRequirements
    data: dict[str, Any]  # normalised
    idempotency_key: str | None
    key_field: str
    request_id: str | None


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
    """`create_action`, saying whether the action is new or an earlier call's.

    Answered once the action is committed and queued. Concurrent calls share the
    transaction and the Redis round trip (`write_creates`); each is checked on its own.
    """
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key, key_field)
        async with rt.reads() as session:
            earlier = await idempotency.find_recent(session, company_id, idempotency_key)
        if earlier is not None:
            return Created(idempotency.replay(earlier, type_name, data, key_field), True)
    requirements = action_type_named(type_name).create_action
    problems = check_data(requirements, data)
    if problems:
        raise ValidationFailed(problems)
    new = NewAction(
        company_id=company_id,
        type_name=type_name,
        requirements=requirements,
        data={k: v for k, v in data.items() if v is not None},
        idempotency_key=idempotency_key,
        key_field=key_field,
        request_id=current_request_id(),
    )
    return await rt.creates.submit(new)


@dataclass(frozen=True)
class _SameKey:
    """A call whose idempotency key an earlier call of its batch brought: answered as that."""

    first: int  # the earlier call's place in the batch


# Bounds one create transaction's size (and the time its locks are held) under a backlog.
MAX_CREATE_BATCH = 256


async def write_creates(rt: Runtime, batch: list[NewAction]) -> list[Created | Exception]:
    """Store a batch of calls' actions in one transaction, then queue them in one round trip.

    A call refused (a reference not found in its company) is refused alone. If the
    transaction meets another gateway's action with one of the batch's idempotency keys, the
    batch cannot tell whose: each call is then made alone, as it would have been unbatched.
    """
    try:
        outcomes, made = await _insert_batch(rt, batch)
    except IntegrityError:
        outcomes, made = [], []
        for new in batch:
            try:
                outcome, alone = await _create_alone(rt, new)
            except Exception as exc:  # this call's own failure, as it would have been alone
                outcome, alone = exc, []
            outcomes.append(outcome)
            made += alone
    log.debug("wrote a batch of %s creates (%s new actions)", len(batch), len(made))
    await dispatch(rt, made)
    return outcomes


async def _insert_batch(
    rt: Runtime, batch: list[NewAction]
) -> tuple[list[Created | Exception], list[Action]]:
    """The batch's outcomes (in order) and the new actions, committed."""
    answers: list[Action | _SameKey | Exception] = []
    made: list[Action] = []
    # Each idempotency key's first call in the batch: later ones get its action.
    firsts: dict[tuple[int, str], int] = {}
    async with rt.sessions.begin() as session:
        checks = [(new.company_id, new.requirements, new.data) for new in batch]
        for place, (new, problems) in enumerate(
            zip(batch, await check_references_of(session, checks), strict=True)
        ):
            if problems:
                answers.append(ValidationFailed(problems))
                continue
            key = new.idempotency_key
            if key is not None:
                if (new.company_id, key) in firsts:
                    answers.append(_SameKey(firsts[(new.company_id, key)]))
                    continue
                firsts[(new.company_id, key)] = place
                await idempotency.release_expired(session, new.company_id, key)
            action = _action_of(new)
            session.add(action)
            answers.append(action)
            made.append(action)
        # Inserted before they are numbered: the companies' counters are the last locks taken.
        await session.flush()
        await stamp_all(session, made)
    outcomes: list[Created | Exception] = []
    for new, answer in zip(batch, answers, strict=True):
        if isinstance(answer, Action):
            outcomes.append(Created(answer, False))
        elif isinstance(answer, _SameKey):
            outcomes.append(_replay(answers[answer.first], new))
        else:
            outcomes.append(answer)
    return outcomes, made


def _replay(first: Action | _SameKey | Exception, new: NewAction) -> Created | Exception:
    assert isinstance(first, Action), "a key's first call in a batch is the one that stored it"
    try:
        return Created(idempotency.replay(first, new.type_name, new.data, new.key_field), True)
    except ValidationFailed as refused:
        return refused


def _action_of(new: NewAction) -> Action:
    return Action(
        company_id=new.company_id,
        type=new.type_name,
        data=new.data,
        request_id=new.request_id,
        idempotency_key=new.idempotency_key,
    )


async def _create_alone(rt: Runtime, new: NewAction) -> tuple[Created | Exception, list[Action]]:
    """One call as a batch of its own; the actions to queue (none if it replayed)."""
    try:
        [outcome], made = await _insert_batch(rt, [new])
    except IntegrityError:
        if new.idempotency_key is None:
            raise
        # A concurrent call with the same key committed first: answer as it was answered.
        async with rt.reads() as session:
            earlier = await idempotency.find_recent(session, new.company_id, new.idempotency_key)
        if earlier is None:
            raise
        replayed = idempotency.replay(earlier, new.type_name, new.data, new.key_field)
        return Created(replayed, True), []
    return outcome, made


async def check_action(rt: Runtime, company_id: int, type_name: str, data: Any) -> list[Problem]:
    """Every problem that creating this action would meet; stores nothing."""
    async with rt.reads() as session:
        try:
            await validate_action(session, company_id, type_name, data)
        except ValidationFailed as exc:
            return exc.problems
    return []


async def get_action(rt: Runtime, company_id: int, action_id: int) -> Action:
    async with rt.reads() as session:
        # One statement: no transaction needed.
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
    async with rt.reads() as session:
        rows = list((await session.scalars(query)).all())
    return rows[:limit], len(rows) > limit


# Made once: a statement built per read leaves its parameters in reference cycles.
_LATEST_SEQUENCES: Final = select(col(Company.id), col(Company.action_sequence)).where(
    col(Company.id).in_(bindparam("companies", expanding=True))
)


async def latest_sequences(sessions: SessionFactory, company_ids: list[int]) -> dict[int, int]:
    """The latest change number of each company, in one query per 500 companies."""
    found: dict[int, int] = {}
    async with sessions() as session:
        for start in range(0, len(company_ids), 500):
            chunk = company_ids[start : start + 500]
            rows = await session.execute(_LATEST_SEQUENCES, {"companies": chunk})
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
    async with rt.reads() as session:
        return list((await session.scalars(query)).all())

"""Creating, listing and deleting triggers. Firing them is in `app/services/firing.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from app.actions.trigger_events import EVENT_KINDS, unsupplied_keys
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.models import Company, Trigger, TriggerEvent, utcnow
from app.services.actions import action_type_named, validate_data
from app.services.references import exists

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

# Every event reads all of its company's triggers, and each may create an action: a bound
# keeps one company's rules from making every event, and every worker, slow.
MAX_TRIGGERS_PER_COMPANY = 100

# Field names as the caller wrote them; REST passes its own (action_type, job_id).
GRAPHQL_FIELDS = {"action_type": "actionType", "job_id": "jobId"}


def _given(data: Any, key: str) -> bool:
    return isinstance(data, dict) and data.get(key) is not None


async def create_trigger(
    rt: Runtime,
    company_id: int,
    event: TriggerEvent,
    type_name: str,
    data: Any,
    job_id: int | None = None,
    *,
    fields: dict[str, str] = GRAPHQL_FIELDS,
) -> Trigger:
    """Store a trigger; ValidationFailed, storing nothing, if it could never fire as asked."""
    action_type = action_type_named(type_name, fields["action_type"])
    # Required keys missing from the data are reported as REQUIRED, not here.
    requirements = action_type.create_trigger
    given = [f.name for f in requirements.required] + [
        f.name for f in requirements.optional if _given(data, f.name)
    ]
    problems = [
        Problem(
            fields["action_type"],
            f"{type_name} needs {key}, which {event.value} events do not supply "
            f"(they supply: {', '.join(sorted(EVENT_KINDS[event].supplied_keys))})",
            ErrorCode.NOT_SUPPLIED,
        )
        for key in unsupplied_keys(action_type, event, given)
    ]
    async with rt.sessions.begin() as session:
        try:
            normalised = await validate_data(session, company_id, action_type.create_trigger, data)
        except ValidationFailed as refused:
            problems = refused.problems + problems
        if job_id is not None and not await exists(session, "job", company_id, job_id):
            problems.append(
                Problem(fields["job_id"], f"job {job_id} not found", ErrorCode.NOT_FOUND)
            )
        if await _active_triggers(session, company_id) >= MAX_TRIGGERS_PER_COMPANY:
            problems.append(
                Problem(
                    None,
                    f"a company may have at most {MAX_TRIGGERS_PER_COMPANY} triggers; "
                    "delete one to make another",
                    ErrorCode.LIMIT_REACHED,
                )
            )
        if problems:
            raise ValidationFailed(problems)
        trigger = Trigger(
            company_id=company_id,
            event=event,
            action_type=type_name,
            data=normalised,
            job_id=job_id,
        )
        session.add(trigger)
    return trigger


async def _active_triggers(session: AsyncSession, company_id: int) -> int:
    """How many triggers the company has, counted under a lock on its row (PostgreSQL), so
    that concurrent creates cannot pass the bound together."""
    await session.execute(
        select(col(Company.id)).where(col(Company.id) == company_id).with_for_update()
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Trigger)
        .where(col(Trigger.company_id) == company_id, col(Trigger.deleted_at).is_(None))
    )
    return int(count or 0)


async def list_triggers(rt: Runtime, company_id: int) -> list[Trigger]:
    """The company's triggers, oldest first."""
    async with rt.reads() as session:
        rows = await session.scalars(
            select(Trigger)
            .where(col(Trigger.company_id) == company_id, col(Trigger.deleted_at).is_(None))
            .order_by(col(Trigger.id))
        )
        return list(rows.all())


async def delete_trigger(rt: Runtime, company_id: int, trigger_id: int) -> Trigger:
    """Stop the trigger firing; the actions it created keep their `trigger_id`."""
    async with rt.sessions.begin() as session:
        trigger = await session.get(Trigger, trigger_id, with_for_update=True)
        if trigger is None or trigger.company_id != company_id or trigger.deleted_at is not None:
            raise NotFound(f"trigger {trigger_id} not found")
        trigger.deleted_at = utcnow()
    return trigger

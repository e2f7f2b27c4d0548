"""Triggers in GraphQL: the Trigger and WorkflowEvent types, their queries and mutations.

Kept apart from `queries.py` and `mutations.py` and joined to them in `schema.py`.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app import models
from app.actions.trigger_events import MAX_TRIGGER_DEPTH
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.graphql.context import Info
from app.graphql.errors import refused
from app.graphql.mutations import attempt, id_problem
from app.graphql.types import Action, UserError, parse_id
from app.graphql.types import _id as optional_id
from app.models import TriggerEvent
from app.services import firing, triggers

strawberry.enum(TriggerEvent, description="What can happen in your company that fires triggers.")


@strawberry.type(
    description="A standing rule: on its event (on its job, if set), create an action of "
    "actionType from data plus what the event supplies."
)
class Trigger:
    id: strawberry.ID
    event: TriggerEvent
    action_type: str = strawberry.field(description="The action type's name, e.g. tag_app.")
    data: JSON = strawberry.field(description="The data that the type's createTrigger requires.")
    job_id: strawberry.ID | None = strawberry.field(
        description="Fire only for events on this job; null for every job."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, trigger: models.Trigger) -> Trigger:
        return cls(
            id=strawberry.ID(str(trigger.id)),
            event=trigger.event,
            action_type=trigger.action_type,
            data=JSON(trigger.data),
            job_id=optional_id(trigger.job_id),
            created_at=trigger.created_at,
        )


@strawberry.type(description="Something that happened in your company, and what it fired.")
class WorkflowEvent:
    id: strawberry.ID
    event: TriggerEvent
    app_id: strawberry.ID | None
    job_id: strawberry.ID | None
    depth: int = strawberry.field(
        description="How many triggered actions led to it (0: a person did it). At "
        f"{MAX_TRIGGER_DEPTH} it fires nothing, so that a chain of triggers ends."
    )
    processed_at: datetime | None = strawberry.field(
        description="When its triggers fired; null until then."
    )
    note: str | None = strawberry.field(description="Why a trigger did not fire, if one did not.")
    created_at: datetime
    actions: list[Action] = strawberry.field(description="The actions its triggers created.")

    @classmethod
    def from_model(cls, event: models.WorkflowEvent, actions: list[models.Action]) -> WorkflowEvent:
        return cls(
            id=strawberry.ID(str(event.id)),
            event=event.kind,
            app_id=optional_id(event.app_id),
            job_id=optional_id(event.job_id),
            depth=event.depth,
            processed_at=event.processed_at,
            note=event.note,
            created_at=event.created_at,
            actions=[Action.from_model(action) for action in actions],
        )


@strawberry.input
class CreateTriggerInput:
    event: TriggerEvent
    action_type: str = strawberry.field(description="The action type's name, e.g. tag_app.")
    data: JSON = strawberry.field(description="The data that the type's createTrigger requires.")
    job_id: strawberry.ID | None = strawberry.field(
        default=None, description="Fire only for events on this job."
    )


@strawberry.type
class CreateTriggerPayload:
    trigger: Trigger | None
    errors: list[UserError]


@strawberry.type
class DeleteTriggerPayload:
    trigger: Trigger | None = strawberry.field(description="The trigger, which no longer fires.")
    errors: list[UserError]


@strawberry.type
class TriggerQuery:
    @strawberry.field(description="Your company's triggers, oldest first.")
    async def triggers(self, info: Info) -> list[Trigger]:
        rows = await triggers.list_triggers(info.context.runtime, info.context.company_id)
        return [Trigger.from_model(row) for row in rows]

    @strawberry.field(
        description="Your company's events, newest first: what each fired, and why a trigger "
        "did not (at most 100)."
    )
    async def workflow_events(self, info: Info, first: int | None = 20) -> list[WorkflowEvent]:
        try:
            rows = await firing.list_events(
                info.context.runtime, info.context.company_id, 20 if first is None else first
            )
        except ValidationFailed as exc:
            raise refused(exc) from None
        # One query for every event's actions, rather than one per event.
        fired = await firing.fired_actions(info.context.runtime, rows)
        return [WorkflowEvent.from_model(row, done) for row, done in zip(rows, fired, strict=True)]


@strawberry.type
class TriggerMutation:
    @strawberry.mutation(description="Create a trigger; it fires for events from now on.")
    async def create_trigger(self, info: Info, input: CreateTriggerInput) -> CreateTriggerPayload:
        ctx = info.context
        job_id = None
        if input.job_id is not None:
            job_id = parse_id(input.job_id)
            if job_id is None:
                return CreateTriggerPayload(trigger=None, errors=id_problem("jobId", input.job_id))
        row, errors = await attempt(
            lambda: triggers.create_trigger(
                ctx.runtime, ctx.company_id, input.event, input.action_type, input.data, job_id
            )
        )
        return CreateTriggerPayload(
            trigger=None if row is None else Trigger.from_model(row), errors=errors
        )

    @strawberry.mutation(description="Delete a trigger; the actions it created stay.")
    async def delete_trigger(self, info: Info, id: strawberry.ID) -> DeleteTriggerPayload:
        ctx = info.context
        trigger_id = parse_id(id)
        try:
            if trigger_id is None:
                raise NotFound(f"trigger {str(id)[:40]!r} not found")
            row = await triggers.delete_trigger(ctx.runtime, ctx.company_id, trigger_id)
        except NotFound as exc:
            problem = Problem("id", str(exc), ErrorCode.NOT_FOUND)
            return DeleteTriggerPayload(trigger=None, errors=[UserError.from_problem(problem)])
        return DeleteTriggerPayload(trigger=Trigger.from_model(row), errors=[])

"""The GraphQL object types, each built from a model row or a registry entry."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from app import models
from app.actions import base as registry
from app.actions import type_name_of
from app.graphql.action_data import ACTION_DATA, ActionData
from app.graphql.context import Info
from app.graphql.scalars import BigInt
from app.models import ActionStatus
from app.services import hiring

if TYPE_CHECKING:
    from app.errors import Problem

strawberry.enum(ActionStatus, description="Where an action is in its life.")


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="A problem with a mutation's input; nothing was stored.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field at fault, e.g. `data.app_id`."
    )
    message: str
    code: str = strawberry.field(description="Stable, for programs: REQUIRED, INVALID_TYPE, ...")

    @classmethod
    def from_problem(cls, problem: Problem) -> UserError:
        return cls(field=problem.field, message=problem.message, code=problem.code.value)


@strawberry.type(description="One key of an action's data.")
class DataField:
    name: str
    type: str
    description: str | None
    allowed_values: list[str] | None

    @classmethod
    def from_registry(cls, spec: registry.DataField) -> DataField:
        allowed = None if spec.allowed_values is None else list(spec.allowed_values)
        return cls(
            name=spec.name, type=spec.kind, description=spec.description, allowed_values=allowed
        )


@strawberry.type
class DataRequirements:
    required_data: list[DataField]
    optional_data: list[DataField]

    @classmethod
    def from_registry(cls, requirements: registry.DataRequirements) -> DataRequirements:
        return cls(
            required_data=[DataField.from_registry(f) for f in requirements.required],
            optional_data=[DataField.from_registry(f) for f in requirements.optional],
        )


@strawberry.type(description="A kind of action, and the data it needs.")
class ActionType:
    name: str
    type_name: str
    description: str
    create_action: DataRequirements
    create_trigger: DataRequirements

    @classmethod
    def from_registry(cls, action_type: registry.ActionType) -> ActionType:
        return cls(
            name=action_type.name,
            type_name=action_type.type_name,
            description=action_type.description,
            create_action=DataRequirements.from_registry(action_type.create_action),
            create_trigger=DataRequirements.from_registry(action_type.create_trigger),
        )


@strawberry.type(description="A workflow action; it runs asynchronously after it is created.")
class Action:
    id: strawberry.ID
    company_id: strawberry.ID
    trigger_id: strawberry.ID | None
    type: str = strawberry.field(description="The action type's name, e.g. tag_app.")
    type_name: str = strawberry.field(description="The action type's type name, e.g. TagApp.")
    data: JSON
    status: ActionStatus
    executed_at: datetime | None = strawberry.field(
        description="When the effect was applied; null until then, and for failed actions."
    )
    created_at: datetime
    updated_at: datetime
    attempts: int = strawberry.field(description="Tries started so far.")
    error: str | None = strawberry.field(description="Why the last try failed, if it did.")
    version: int = strawberry.field(
        description="Increases with every change: a later event has a greater version."
    )
    sequence: BigInt = strawberry.field(
        description="The number of this action's latest change in its company's sequence of "
        "action changes: resume `subscription actions(after:)` from the last one you saw."
    )
    next_try_at: datetime | None = strawberry.field(
        description="While PENDING after a transient error: when the next try starts."
    )

    @strawberry.field(
        description="The data, typed by the action type: select e.g. "
        "`... on TagAppData { appId tagText }`. Null for a type no longer registered."
    )
    def typed_data(self) -> ActionData | None:
        return ACTION_DATA.of(self.type, self.data)

    @classmethod
    def from_model(cls, action: models.Action) -> Action:
        return cls(
            id=strawberry.ID(str(action.id)),
            company_id=strawberry.ID(str(action.company_id)),
            trigger_id=_id(action.trigger_id),
            type=action.type,
            type_name=type_name_of(action.type),
            data=JSON(action.data),
            status=action.status,
            executed_at=action.executed_at,
            created_at=action.created_at,
            updated_at=action.updated_at,
            attempts=action.attempts,
            error=action.error,
            version=action.version,
            sequence=BigInt(action.sequence),
            next_try_at=action.next_try_at,
        )


@strawberry.type
class ActionEdge:
    cursor: str
    node: Action


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of actions, newest first.")
class ActionConnection:
    edges: list[ActionEdge]
    page_info: PageInfo


@strawberry.type
class Note:
    id: strawberry.ID
    text: str
    created_at: datetime

    @classmethod
    def from_model(cls, note: models.Note) -> Note:
        return cls(id=strawberry.ID(str(note.id)), text=note.text, created_at=note.created_at)


@strawberry.type(description="An application: a candidate applying to a job.")
class App:
    id: strawberry.ID
    job_id: strawberry.ID
    candidate_name: str
    model: strawberry.Private[models.App]

    @classmethod
    def from_model(cls, app: models.App) -> App:
        return cls(
            id=strawberry.ID(str(app.id)),
            job_id=strawberry.ID(str(app.job_id)),
            candidate_name=app.candidate_name,
            model=app,
        )

    @strawberry.field
    async def tags(self, info: Info) -> list[str]:
        return await hiring.tags_of(info.context.runtime, self.model)

    @strawberry.field
    async def notes(self, info: Info) -> list[Note]:
        return [Note.from_model(n) for n in await hiring.notes_of(info.context.runtime, self.model)]


@strawberry.type
class Job:
    id: strawberry.ID
    title: str
    status: str = strawberry.field(description="One of draft, open, on_hold, closed.")

    @classmethod
    def from_model(cls, job: models.Job) -> Job:
        return cls(id=strawberry.ID(str(job.id)), title=job.title, status=job.status)


@strawberry.type
class DashboardNotification:
    id: strawberry.ID
    message: str
    app_id: strawberry.ID | None
    job_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def from_model(cls, row: models.DashboardNotification) -> DashboardNotification:
        return cls(
            id=strawberry.ID(str(row.id)),
            message=row.message,
            app_id=_id(row.app_id),
            job_id=_id(row.job_id),
            created_at=row.created_at,
        )


def parse_id(value: Any) -> int | None:
    """A GraphQL ID as a row id, or None if it cannot name a row."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 1 <= number <= registry.MAX_ID else None

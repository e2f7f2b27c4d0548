"""Mutation: each returns its object and `errors`; a refused input stores nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from app.errors import ErrorCode, Problem, ValidationFailed
from app.graphql.context import Info
from app.graphql.types import Action, App, Job, UserError, parse_id
from app.services import actions, hiring

T = TypeVar("T")


async def attempt(call: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """Run a service call, turning a refusal into the payload's `errors`."""
    try:
        return await call(), []
    except ValidationFailed as refused:
        return None, [UserError.from_problem(p) for p in refused.problems]


def id_problem(field: str, value: strawberry.ID) -> list[UserError]:
    problem = Problem(field, f"{field} {str(value)[:40]!r} is not a valid id", ErrorCode.INVALID)
    return [UserError.from_problem(problem)]


IDEMPOTENCY_KEY_HELP = (
    "Any unique string of yours (at most 255 characters). Retrying with the same key within "
    "24 hours returns the action the first call made instead of a second."
)


@strawberry.input
class CreateActionInput:
    type: str = strawberry.field(description="The action type's name, e.g. tag_app.")
    data: JSON = strawberry.field(description="The data that the type's createAction requires.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY_HELP)


@strawberry.type
class CreateActionPayload:
    action: Action | None
    errors: list[UserError]


async def create_action_payload(
    info: Info, type_name: str, data: Any, idempotency_key: str | None = None
) -> CreateActionPayload:
    """Every create-action mutation, generic or typed, goes through here to the service."""
    ctx = info.context
    row, errors = await attempt(
        lambda: actions.create_action(
            ctx.runtime, ctx.company_id, type_name, data, idempotency_key=idempotency_key
        )
    )
    return CreateActionPayload(
        action=None if row is None else Action.from_model(row), errors=errors
    )


@strawberry.input
class CreateJobInput:
    title: str
    status: str | None = strawberry.field(default=None, description="Defaults to open.")


@strawberry.type
class CreateJobPayload:
    job: Job | None
    errors: list[UserError]


@strawberry.input
class CreateAppInput:
    job_id: strawberry.ID
    candidate_name: str


@strawberry.type
class CreateAppPayload:
    app: App | None
    errors: list[UserError]


@strawberry.input
class SetJobStatusInput:
    job_id: strawberry.ID
    status: str = strawberry.field(description="One of draft, open, on_hold, closed.")


@strawberry.type
class SetJobStatusPayload:
    job: Job | None
    errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an action; it runs asynchronously, watch it finish.")
    async def create_action(self, info: Info, input: CreateActionInput) -> CreateActionPayload:
        return await create_action_payload(info, input.type, input.data, input.idempotency_key)

    @strawberry.mutation
    async def create_job(self, info: Info, input: CreateJobInput) -> CreateJobPayload:
        ctx = info.context
        row, errors = await attempt(
            lambda: hiring.create_job(ctx.runtime, ctx.company_id, input.title, input.status)
        )
        return CreateJobPayload(job=None if row is None else Job.from_model(row), errors=errors)

    @strawberry.mutation
    async def create_app(self, info: Info, input: CreateAppInput) -> CreateAppPayload:
        ctx = info.context
        job_id = parse_id(input.job_id)
        if job_id is None:
            return CreateAppPayload(app=None, errors=id_problem("jobId", input.job_id))
        row, errors = await attempt(
            lambda: hiring.create_app(ctx.runtime, ctx.company_id, job_id, input.candidate_name)
        )
        return CreateAppPayload(app=None if row is None else App.from_model(row), errors=errors)

    @strawberry.mutation
    async def set_job_status(self, info: Info, input: SetJobStatusInput) -> SetJobStatusPayload:
        ctx = info.context
        job_id = parse_id(input.job_id)
        if job_id is None:
            return SetJobStatusPayload(job=None, errors=id_problem("jobId", input.job_id))
        row, errors = await attempt(
            lambda: hiring.set_job_status(ctx.runtime, ctx.company_id, job_id, input.status)
        )
        return SetJobStatusPayload(job=None if row is None else Job.from_model(row), errors=errors)

"""Query: reading actions, the catalogue of types, jobs, apps and notifications."""

from __future__ import annotations

import strawberry

from app.actions import REGISTRY
from app.errors import NotFound, ValidationFailed
from app.graphql.context import Info
from app.graphql.errors import refused
from app.graphql.types import (
    Action,
    ActionConnection,
    ActionEdge,
    ActionType,
    App,
    DashboardNotification,
    Job,
    PageInfo,
    parse_id,
)
from app.models import ActionStatus
from app.services import actions, hiring


@strawberry.type
class Query:
    @strawberry.field(description="Every action type and the data it needs.")
    def action_types(self) -> list[ActionType]:
        return [ActionType.from_registry(t) for t in REGISTRY.values()]

    @strawberry.field(description="An action of your company; null if there is none with this id.")
    async def action(self, info: Info, id: strawberry.ID) -> Action | None:
        action_id = parse_id(id)
        if action_id is None:
            return None
        try:
            row = await actions.get_action(info.context.runtime, info.context.company_id, action_id)
        except NotFound:
            return None
        return Action.from_model(row)

    @strawberry.field(description="Your company's actions, newest first (at most 100 a page).")
    async def actions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: ActionStatus | None = None,
        type: str | None = None,
    ) -> ActionConnection:
        try:
            rows, has_next = await actions.list_actions(
                info.context.runtime,
                info.context.company_id,
                first=first,
                after=after,
                status=status,
                type_name=type,
            )
        except ValidationFailed as exc:
            raise refused(exc) from None
        edges = [
            ActionEdge(cursor=actions.encode_cursor(row.id), node=Action.from_model(row))  # type: ignore[arg-type]
            for row in rows
        ]
        end = edges[-1].cursor if edges else None
        return ActionConnection(
            edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=end)
        )

    @strawberry.field
    async def app(self, info: Info, id: strawberry.ID) -> App | None:
        app_id = parse_id(id)
        if app_id is None:
            return None
        try:
            return App.from_model(
                await hiring.get_app(info.context.runtime, info.context.company_id, app_id)
            )
        except NotFound:
            return None

    @strawberry.field
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        job_id = parse_id(id)
        if job_id is None:
            return None
        try:
            return Job.from_model(
                await hiring.get_job(info.context.runtime, info.context.company_id, job_id)
            )
        except NotFound:
            return None

    @strawberry.field(description="Your company's dashboard notifications, newest first.")
    async def dashboard_notifications(
        self, info: Info, first: int | None = 20
    ) -> list[DashboardNotification]:
        try:
            rows = await hiring.dashboard_notifications(
                info.context.runtime, info.context.company_id, 20 if first is None else first
            )
        except ValidationFailed as exc:
            raise refused(exc) from None
        return [DashboardNotification.from_model(r) for r in rows]

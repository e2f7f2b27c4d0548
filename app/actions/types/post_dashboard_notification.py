"""post_dashboard_notification: posts a notification to the company's dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.actions.base import ActionType, DataField, DataRequirements
from app.actions.effects import load_app, load_job
from app.models import DashboardNotification

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

MESSAGE = DataField("message", "string", "The notification's text.")


async def execute(session: AsyncSession, action: Action) -> None:
    app_id, job_id = action.data.get("app_id"), action.data.get("job_id")
    if app_id is not None:
        await load_app(session, action, app_id)
    if job_id is not None:
        await load_job(session, action, job_id)
    # action_id is unique on notifications: a second delivery cannot post twice.
    session.add(
        DashboardNotification(
            company_id=action.company_id,
            message=action.data["message"],
            app_id=app_id,
            job_id=job_id,
            action_id=action.id,
        )
    )


ACTION_TYPE = ActionType(
    name="post_dashboard_notification",
    type_name="PostDashboardNotification",
    description="Posts a notification to the company's dashboard, optionally about an "
    "application or a job.",
    create_action=DataRequirements(
        required=(MESSAGE,),
        optional=(
            DataField("app_id", "integer", "The application it is about.", references="app"),
            DataField("job_id", "integer", "The job it is about.", references="job"),
        ),
    ),
    create_trigger=DataRequirements(required=(MESSAGE,)),
    execute=execute,
)

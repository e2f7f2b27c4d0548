"""set_job_status: sets a job's status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.actions.base import ActionType, DataField, DataRequirements, as_int
from app.actions.effects import load_job
from app.models import JOB_STATUSES, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

STATUS = DataField("status", "string", "The job's new status.", allowed_values=JOB_STATUSES)


async def execute(session: AsyncSession, action: Action) -> None:
    job = await load_job(session, action, as_int(action.data, "job_id"))
    if job.status != action.data["status"]:
        job.status = action.data["status"]
        job.updated_at = utcnow()


ACTION_TYPE = ActionType(
    name="set_job_status",
    type_name="SetJobStatus",
    description="Sets a job's status.",
    create_action=DataRequirements(
        required=(
            DataField("job_id", "integer", "The job whose status to set.", references="job"),
            STATUS,
        )
    ),
    create_trigger=DataRequirements(required=(STATUS,)),
    execute=execute,
)

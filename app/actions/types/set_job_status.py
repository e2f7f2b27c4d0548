"""set_job_status: sets a job's status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.actions.base import ActionType, DataField, DataRequirements, as_int
from app.actions.effects import load_job
from app.models import JOB_STATUSES, TriggerEvent, utcnow
from app.services.workflow_events import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

STATUS = DataField(
    "status", "string", "The job's new status.", allowed_values=JOB_STATUSES, enum_name="JobStatus"
)


async def execute(session: AsyncSession, action: Action) -> None:
    job = await load_job(session, action, as_int(action.data, "job_id"))
    if job.status != action.data["status"]:
        job.status = action.data["status"]
        job.updated_at = utcnow()
        # In the action's own transaction: the event exists if and only if the change does.
        await record_event(
            session,
            action.company_id,
            TriggerEvent.JOB_STATUS_CHANGED,
            job_id=as_int(action.data, "job_id"),
            cause=action,
        )


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

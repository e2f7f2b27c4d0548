"""Helpers the executors share: fetching the rows an action acts on, within its company."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import PermanentActionError
from app.models import App, Job

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action


async def load_app(session: AsyncSession, action: Action, app_id: int) -> App:
    app = await session.get(App, app_id)
    if app is None or app.company_id != action.company_id:
        raise PermanentActionError(f"app {app_id} no longer exists")
    return app


async def load_job(session: AsyncSession, action: Action, job_id: int) -> Job:
    job = await session.get(Job, job_id, with_for_update=True)
    if job is None or job.company_id != action.company_id:
        raise PermanentActionError(f"job {job_id} no longer exists")
    return job

"""Jobs, applications and what actions leave on them: tags, notes, dashboard notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.actions.base import DataField
from app.actions.validation import check_value
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.models import (
    JOB_STATUSES,
    App,
    DashboardNotification,
    Job,
    Note,
    Tag,
    TriggerEvent,
    utcnow,
)
from app.services.actions import require_page
from app.services.workflow_events import enqueue_events, record_event, recorded

if TYPE_CHECKING:
    from app.runtime import Runtime

# The same rules as action data: non-empty, at most 1,000 characters.
_TITLE = DataField("title", "string", "")
_CANDIDATE_NAME = DataField("candidateName", "string", "")
_STATUS = DataField("status", "string", "", allowed_values=JOB_STATUSES)
DEFAULT_JOB_STATUS = "open"


def _require(checks: list[tuple[DataField, object]]) -> None:
    problems = [p for spec, value in checks if (p := check_value(spec, value, spec.name))]
    if problems:
        raise ValidationFailed(problems)


async def create_job(rt: Runtime, company_id: int, title: str, status: str | None = None) -> Job:
    status = DEFAULT_JOB_STATUS if status is None else status
    _require([(_TITLE, title), (_STATUS, status)])
    async with rt.sessions.begin() as session:
        job = Job(company_id=company_id, title=title, status=status)
        session.add(job)
    return job


async def get_job(rt: Runtime, company_id: int, job_id: int) -> Job:
    async with rt.reads() as session:
        job = await session.get(Job, job_id)
    if job is None or job.company_id != company_id:
        raise NotFound(f"job {job_id} not found")
    return job


async def set_job_status(rt: Runtime, company_id: int, job_id: int, status: str) -> Job:
    _require([(_STATUS, status)])
    async with rt.sessions.begin() as session:
        job = await session.get(Job, job_id, with_for_update=True)
        if job is None or job.company_id != company_id:
            raise ValidationFailed(
                [Problem("jobId", f"job {job_id} not found", ErrorCode.NOT_FOUND)]
            )
        if job.status != status:
            job.status = status
            job.updated_at = utcnow()
            await record_event(session, company_id, TriggerEvent.JOB_STATUS_CHANGED, job_id=job_id)
    await enqueue_events(rt.redis, recorded(session))
    return job


async def create_app(rt: Runtime, company_id: int, job_id: int, candidate_name: str) -> App:
    _require([(_CANDIDATE_NAME, candidate_name)])
    async with rt.sessions.begin() as session:
        job = await session.get(Job, job_id)
        if job is None or job.company_id != company_id:
            raise ValidationFailed(
                [Problem("jobId", f"job {job_id} not found", ErrorCode.NOT_FOUND)]
            )
        app = App(company_id=company_id, job_id=job_id, candidate_name=candidate_name)
        session.add(app)
        await session.flush()
        await record_event(
            session, company_id, TriggerEvent.APPLICANT_NEW, job_id=job_id, app_id=app.id
        )
    await enqueue_events(rt.redis, recorded(session))
    return app


async def get_app(rt: Runtime, company_id: int, app_id: int) -> App:
    async with rt.reads() as session:
        app = await session.get(App, app_id)
    if app is None or app.company_id != company_id:
        raise NotFound(f"app {app_id} not found")
    return app


async def tags_of(rt: Runtime, app: App) -> list[str]:
    async with rt.reads() as session:
        rows = await session.scalars(
            select(col(Tag.text)).where(col(Tag.app_id) == app.id).order_by(col(Tag.id))
        )
        return list(rows.all())


async def notes_of(rt: Runtime, app: App) -> list[Note]:
    async with rt.reads() as session:
        rows = await session.scalars(
            select(Note).where(col(Note.app_id) == app.id).order_by(col(Note.id))
        )
        return list(rows.all())


async def dashboard_notifications(
    rt: Runtime, company_id: int, first: int
) -> list[DashboardNotification]:
    require_page(first)
    async with rt.reads() as session:
        rows = await session.scalars(
            select(DashboardNotification)
            .where(col(DashboardNotification.company_id) == company_id)
            .order_by(col(DashboardNotification.id).desc())
            .limit(first)
        )
        return list(rows.all())

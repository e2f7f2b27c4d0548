"""The tables. Each class is one table; the service layer is the only writer."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL, JSON text elsewhere.
JSONData = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


JOB_STATUSES: tuple[str, ...] = ("draft", "open", "on_hold", "closed")


class ActionStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def is_final(self) -> bool:
        return self in (ActionStatus.EXECUTED, ActionStatus.FAILED, ActionStatus.CANCELED)


class TriggerEvent(enum.StrEnum):
    """What can happen in a company that a trigger may answer (`app/actions/trigger_events.py`)."""

    APPLICANT_NEW = "APPLICANT_NEW"
    JOB_STATUS_CHANGED = "JOB_STATUS_CHANGED"


def _trigger_event_type() -> sa.Enum:
    return sa.Enum(TriggerEvent, native_enum=False, length=40, name="trigger_event")


# A tenant: every other row belongs to exactly one company.
class Company(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = created_at_field()
    # The sequence number of the company's latest action change. Each change takes the next
    # one in its own transaction, so numbers are gapless and in commit order per company.
    action_sequence: int = Field(default=0, sa_type=sa.BigInteger)


# An API key, stored only as its SHA-256 (keys are random, so a slow hash adds nothing).
class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id", index=True)
    key_hash: str = Field(max_length=64, unique=True)
    # The first characters of the key, so a person can tell keys apart in a listing.
    prefix: str = Field(max_length=16)
    label: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# A job opening; `status` is one of JOB_STATUSES.
class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id", index=True)
    title: str = Field(max_length=1000)
    status: str = Field(max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


# An application: a candidate applying to a job.
class App(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id", index=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    candidate_name: str = Field(max_length=1000)
    created_at: datetime = created_at_field()


# A tag on an application; a text is on an app at most once.
class Tag(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("app_id", "text", name="uq_tag_app_text"),)
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    app_id: int = Field(foreign_key="app.id", index=True)
    text: str = Field(max_length=1000)
    # The action that added it; unique so that no action adds a tag twice.
    action_id: int | None = Field(default=None, foreign_key="action.id", unique=True)
    created_at: datetime = created_at_field()


# A note on an application; each action makes at most one.
class Note(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    app_id: int = Field(foreign_key="app.id", index=True)
    text: str = Field(max_length=1000)
    action_id: int | None = Field(default=None, foreign_key="action.id", unique=True)
    created_at: datetime = created_at_field()


# A message on the company's dashboard; each action posts at most one.
class DashboardNotification(SQLModel, table=True):
    __tablename__ = "dashboard_notification"
    __table_args__ = (sa.Index("ix_dashboard_notification_company_id_id", "company_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    message: str = Field(max_length=1000)
    app_id: int | None = Field(default=None)
    job_id: int | None = Field(default=None)
    action_id: int | None = Field(default=None, foreign_key="action.id", unique=True)
    created_at: datetime = created_at_field()


# A workflow action: the row is the outbox, its status the only truth about its progress.
class Action(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_action_company_id_id", "company_id", "id"),
        sa.Index("ix_action_company_id_status_id", "company_id", "status", "id"),
        sa.Index("ix_action_status_updated_at", "status", "updated_at"),
        sa.UniqueConstraint("event_id", "trigger_id", name="uq_action_event_id_trigger_id"),
        # Named, so that a migration can name them (they were added after the table).
        sa.ForeignKeyConstraint(["trigger_id"], ["trigger.id"], name="fk_action_trigger_id"),
        sa.ForeignKeyConstraint(["event_id"], ["workflow_event.id"], name="fk_action_event_id"),
        # Subscribers resume from a sequence number: "what changed after N" is one range scan.
        sa.Index("ix_action_company_id_sequence", "company_id", "sequence"),
        # A client's retry with the same key finds the first action instead of making another.
        sa.Index(
            "uq_action_company_id_idempotency_key", "company_id", "idempotency_key", unique=True
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    # Set on actions a trigger created: which trigger, answering which event. The pair is
    # unique, so that however often an event is delivered, each trigger fires for it once.
    trigger_id: int | None = Field(default=None)
    event_id: int | None = Field(default=None)
    type: str = Field(max_length=100)
    data: dict[str, Any] = Field(sa_type=JSONData)
    status: ActionStatus = Field(
        default=ActionStatus.PENDING,
        sa_type=sa.Enum(ActionStatus, native_enum=False, length=20, name="action_status"),
    )
    attempts: int = Field(default=0)
    error: str | None = Field(default=None)
    # The X-Request-ID of the call that created it: the worker logs its tries under it.
    request_id: str | None = Field(default=None, max_length=128)
    # Bumped on every change: subscribers use it to drop stale or repeated events.
    version: int = Field(default=1)
    # The company's change sequence number of this action's latest change (Company above);
    # 0 only inside the transaction that creates the action, until it is stamped.
    sequence: int = Field(default=0, sa_type=sa.BigInteger)
    # While RUNNING: when the current try is presumed dead and may be taken again.
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # While PENDING after a transient error: when the next try may start (backoff).
    next_try_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The client's key for retrying its create call; honoured for IDEMPOTENCY_WINDOW.
    idempotency_key: str | None = Field(default=None, max_length=255)
    executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


# A standing rule: on its event in its company (and on its job, if set), create an action of
# `action_type` from `data` plus what the event supplies. Deleting one only sets
# `deleted_at`: the actions it created keep a `trigger_id` that still names what made them.
class Trigger(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_trigger_company_id_event", "company_id", "event"),)
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    event: TriggerEvent = Field(sa_type=_trigger_event_type())
    action_type: str = Field(max_length=100)
    data: dict[str, Any] = Field(sa_type=JSONData)
    job_id: int | None = Field(default=None, foreign_key="job.id")
    created_at: datetime = created_at_field()
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Something that happened and may fire triggers: the outbox of triggers. It is written in the
# transaction of the change that caused it, and marked processed in the transaction that
# creates the actions it fires, so that an event is never lost and never fires twice.
class WorkflowEvent(SQLModel, table=True):
    __tablename__ = "workflow_event"
    __table_args__ = (
        sa.Index("ix_workflow_event_company_id_id", "company_id", "id"),
        sa.Index("ix_workflow_event_processed_at_created_at", "processed_at", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="company.id")
    kind: TriggerEvent = Field(sa_type=_trigger_event_type())
    app_id: int | None = Field(default=None)
    job_id: int | None = Field(default=None)
    # How many triggered actions led to this event: 0 when a person caused it.
    depth: int = Field(default=0)
    # The X-Request-ID behind it, passed on to the actions its triggers create.
    request_id: str | None = Field(default=None, max_length=128)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why some trigger did not fire for this event (the chain limit, data no longer valid).
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()

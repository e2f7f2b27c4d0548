"""triggers: the trigger table, the workflow_event outbox, and actions' links to both

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 13:44:38.094321
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigger_event() -> sa.Enum:
    return sa.Enum(
        "APPLICANT_NEW", "JOB_STATUS_CHANGED", name="trigger_event", native_enum=False, length=40
    )


def upgrade() -> None:
    op.create_table(
        "workflow_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("kind", _trigger_event(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_event", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_event_company_id_id", ["company_id", "id"], unique=False)
        batch_op.create_index(
            "ix_workflow_event_processed_at_created_at",
            ["processed_at", "created_at"],
            unique=False,
        )

    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("event", _trigger_event(), nullable=False),
        sa.Column("action_type", sa.String(length=100), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.create_index("ix_trigger_company_id_event", ["company_id", "event"], unique=False)

    # Triggers are deleted softly (deleted_at), so a plain foreign key never breaks an action.
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_action_event_id_trigger_id", ["event_id", "trigger_id"]
        )
        batch_op.create_foreign_key("fk_action_event_id", "workflow_event", ["event_id"], ["id"])
        batch_op.create_foreign_key("fk_action_trigger_id", "trigger", ["trigger_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.drop_constraint("fk_action_trigger_id", type_="foreignkey")
        batch_op.drop_constraint("fk_action_event_id", type_="foreignkey")
        batch_op.drop_constraint("uq_action_event_id_trigger_id", type_="unique")
        batch_op.drop_column("event_id")

    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_company_id_event")
    op.drop_table("trigger")

    with op.batch_alter_table("workflow_event", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_event_processed_at_created_at")
        batch_op.drop_index("ix_workflow_event_company_id_id")
    op.drop_table("workflow_event")

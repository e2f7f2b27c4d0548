"""action change sequence, next try time, idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("action_sequence", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sequence", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))

    # Number the existing actions per company in the order they last changed.
    op.execute(
        """
        UPDATE action SET sequence = (
            SELECT COUNT(*) FROM action AS earlier
            WHERE earlier.company_id = action.company_id
              AND (earlier.updated_at < action.updated_at
                   OR (earlier.updated_at = action.updated_at AND earlier.id <= action.id))
        )
        """
    )
    op.execute(
        """
        UPDATE company SET action_sequence = COALESCE(
            (SELECT MAX(sequence) FROM action WHERE action.company_id = company.id), 0)
        """
    )

    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.create_index(
            "ix_action_company_id_sequence", ["company_id", "sequence"], unique=False
        )
        batch_op.create_index(
            "uq_action_company_id_idempotency_key",
            ["company_id", "idempotency_key"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.drop_index("uq_action_company_id_idempotency_key")
        batch_op.drop_index("ix_action_company_id_sequence")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("next_try_at")
        batch_op.drop_column("sequence")
    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.drop_column("action_sequence")

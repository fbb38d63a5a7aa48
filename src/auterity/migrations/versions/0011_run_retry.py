"""Run retries: a run links the run it retries, keeps its step parameter overrides, and
marks the step results it reused.

Revision ID: 0011_run_retry
Revises: 0006_policies
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_run_retry"
down_revision: str | None = "0006_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_of", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("step_overrides", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_retry_of"), ["retry_of"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_runs_retry_of_runs"), "runs", ["retry_of"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reused_from", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_column("reused_from")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_runs_retry_of_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_runs_retry_of"))
        batch_op.drop_column("step_overrides")
        batch_op.drop_column("retry_of")

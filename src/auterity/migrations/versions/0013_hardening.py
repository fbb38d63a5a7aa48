"""Step rows by status: the concurrency caps count running steps on every admission.

Revision ID: 0013_hardening
Revises: 0013_templates
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_hardening"
down_revision: str | None = "0013_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_step_runs_status", "step_runs", ["status", "tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_step_runs_status", table_name="step_runs")

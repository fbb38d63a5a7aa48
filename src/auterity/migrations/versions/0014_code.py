"""Python modules deployed with the SDK, imported by reference by in-process steps.

Revision ID: 0014_code
Revises: 0013_hardening
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_code"
down_revision: str | None = "0013_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "python_modules",
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("deployed_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_python_modules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_python_modules")),
        sa.UniqueConstraint("tenant_id", "ref", name=op.f("uq_python_modules_tenant_id_ref")),
    )
    with op.batch_alter_table("python_modules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_python_modules_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("python_modules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_python_modules_tenant_id"))
    op.drop_table("python_modules")

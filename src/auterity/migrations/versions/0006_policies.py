"""Access policies, and the login time carried by refresh-token families.

Revision ID: 0006_policies
Revises: 0010_automatrix
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_policies"
down_revision: str | None = "0005_saml"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("effect", sa.String(length=20), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_access_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_policies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_access_policies_tenant_id_name")),
    )
    with op.batch_alter_table("access_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_policies_tenant_id"), ["tenant_id"], unique=False
        )
    # Nullable: families started before this revision have no known login time, and a
    # policy asking for a recent MFA treats them as not recent.
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("auth_time")
    with op.batch_alter_table("access_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_policies_tenant_id"))
    op.drop_table("access_policies")

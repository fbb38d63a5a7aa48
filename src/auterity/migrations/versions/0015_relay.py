"""RelayCore: a tenant's own layer of the model catalog.

Revision ID: 0015_relay
Revises: 0014_code
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_relay"
down_revision: str | None = "0014_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_tenant_catalogs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_relay_tenant_catalogs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_tenant_catalogs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_relay_tenant_catalogs_tenant_id")),
    )
    with op.batch_alter_table("relay_tenant_catalogs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_relay_tenant_catalogs_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("relay_tenant_catalogs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_tenant_catalogs_tenant_id"))
    op.drop_table("relay_tenant_catalogs")

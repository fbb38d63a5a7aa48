"""Vector collections (and the items of those kept in the platform database), and the small
values workflows keep between runs.

Revision ID: 0018_vectors_state
Revises: 0017_relaymoney
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_vectors_state"
down_revision: str | None = "0017_relaymoney"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "vector_collections",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("store", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_common(),
        _tenant_fk("vector_collections"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_collections")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_vector_collections_tenant_id_name")),
    )
    with op.batch_alter_table("vector_collections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vector_collections_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "vector_items",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        *_common(),
        _tenant_fk("vector_items"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["vector_collections.id"],
            name=op.f("fk_vector_items_collection_id_vector_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_items")),
        sa.UniqueConstraint(
            "collection_id", "item_id", name=op.f("uq_vector_items_collection_id_item_id")
        ),
    )
    with op.batch_alter_table("vector_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vector_items_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_vector_items_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "workflow_state",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        *_common(),
        _tenant_fk("workflow_state"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_state")),
        sa.UniqueConstraint(
            "tenant_id", "namespace", "key", name=op.f("uq_workflow_state_tenant_id_namespace_key")
        ),
    )
    with op.batch_alter_table("workflow_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_state_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("workflow_state")
    op.drop_table("vector_items")
    op.drop_table("vector_collections")

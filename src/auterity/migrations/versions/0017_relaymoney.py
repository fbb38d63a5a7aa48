"""RelayCore money: budgets, their per-period counters, and one usage row per request.

Revision ID: 0017_relaymoney
Revises: 0016_triggers
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_relaymoney"
down_revision: str | None = "0016_triggers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_budgets",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=200), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("limit_micros", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("alert_threshold_percent", sa.Integer(), nullable=False),
        sa.Column("downgrade", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_relay_budgets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_budgets")),
    )
    with op.batch_alter_table("relay_budgets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_relay_budgets_scope", ["tenant_id", "scope", "scope_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_relay_budgets_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "relay_usage",
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("workflow", sa.String(length=200), nullable=True),
        sa.Column("run", sa.String(length=200), nullable=True),
        sa.Column("step", sa.String(length=200), nullable=True),
        sa.Column("requested_model", sa.String(length=200), nullable=False),
        sa.Column("routed_model", sa.String(length=200), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("ttft_ms", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("route_reason", sa.String(length=200), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("failover_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_relay_usage_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_usage")),
    )
    with op.batch_alter_table("relay_usage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_relay_usage_tenant_created", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_relay_usage_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "relay_budget_counters",
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.Column("reserved_micros", sa.BigInteger(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["relay_budgets.id"],
            name=op.f("fk_relay_budget_counters_budget_id_relay_budgets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_relay_budget_counters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("budget_id", "period_key", name=op.f("pk_relay_budget_counters")),
    )
    with op.batch_alter_table("relay_budget_counters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_relay_budget_counters_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("relay_budget_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_budget_counters_tenant_id"))

    op.drop_table("relay_budget_counters")
    with op.batch_alter_table("relay_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_usage_tenant_id"))
        batch_op.drop_index("ix_relay_usage_tenant_created")

    op.drop_table("relay_usage")
    with op.batch_alter_table("relay_budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_budgets_tenant_id"))
        batch_op.drop_index("ix_relay_budgets_scope")

    op.drop_table("relay_budgets")

"""Triggers: cron, webhook and event triggers, their firings, and recent webhook signatures.

Revision ID: 0016_triggers
Revises: 0015_relay
Create Date: 2026-11-25 15:02:55.045108
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_triggers"
down_revision: str | None = "0015_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("cron_expression", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("misfire_policy", sa.String(length=20), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("signing_secret_sealed", sa.Text(), nullable=True),
        sa.Column("sync_timeout_seconds", sa.Float(), nullable=True),
        sa.Column("max_body_bytes", sa.Integer(), nullable=True),
        sa.Column("event_type", sa.String(length=200), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_triggers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_triggers_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_triggers_token_hash")),
    )
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.create_index("ix_triggers_due", ["kind", "enabled", "next_fire_at"], unique=False)
        batch_op.create_index("ix_triggers_event", ["tenant_id", "event_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_triggers_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_triggers_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "trigger_firings",
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_trigger_firings_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_trigger_firings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_firings_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_firings")),
        sa.UniqueConstraint(
            "trigger_id", "scheduled_at", name=op.f("uq_trigger_firings_trigger_id_scheduled_at")
        ),
    )
    with op.batch_alter_table("trigger_firings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trigger_firings_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trigger_firings_trigger_id"), ["trigger_id"], unique=False
        )

    op.create_table(
        "webhook_signatures",
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_signatures_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_webhook_signatures_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_signatures")),
        sa.UniqueConstraint(
            "trigger_id", "signature", name=op.f("uq_webhook_signatures_trigger_id_signature")
        ),
    )
    with op.batch_alter_table("webhook_signatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_signatures_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_signatures_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_signatures_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_signatures_expires_at"))

    op.drop_table("webhook_signatures")
    with op.batch_alter_table("trigger_firings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_firings_trigger_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_firings_tenant_id"))

    op.drop_table("trigger_firings")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triggers_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_triggers_tenant_id"))
        batch_op.drop_index("ix_triggers_event")
        batch_op.drop_index("ix_triggers_due")

    op.drop_table("triggers")

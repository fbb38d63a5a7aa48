"""The platform LLM API's conversations and their messages.

Revision ID: 0019_llmconversations
Revises: 0017_relaymoney
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_llmconversations"
down_revision: str | None = "0018_vectors_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_conversations",
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("summary_model", sa.String(length=200), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=True),
        sa.Column("context_strategy", sa.String(length=16), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("summary_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_llm_conversations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_conversations")),
    )
    with op.batch_alter_table("llm_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_llm_conversations_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "llm_conversation_messages",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("context", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("folded", sa.JSON(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["llm_conversations.id"],
            name=op.f("fk_llm_conversation_messages_conversation_id_llm_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_llm_conversation_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_conversation_messages")),
        sa.UniqueConstraint(
            "conversation_id",
            "position",
            name=op.f("uq_llm_conversation_messages_conversation_id_position"),
        ),
    )
    with op.batch_alter_table("llm_conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_llm_conversation_messages_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("llm_conversation_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_conversation_messages_tenant_id"))

    op.drop_table("llm_conversation_messages")
    with op.batch_alter_table("llm_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_conversations_tenant_id"))

    op.drop_table("llm_conversations")

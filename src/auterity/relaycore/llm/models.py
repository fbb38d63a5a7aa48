"""Conversation tables: a tenant's conversations and their messages, with token and cost totals.

Costs are integer micro-dollars, like every other figure of the gateway. A message that left
the context window stays stored: `context` says whether it is still sent (`active`), was
left out (`dropped`) or was folded into a summary (`summarized`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class Conversation(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "llm_conversations"

    title: Mapped[str | None] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    # A model or alias name, or None for the gateway's default (routing hints).
    model: Mapped[str | None] = mapped_column(String(200))
    summary_model: Mapped[str | None] = mapped_column(String(200))
    capabilities: Mapped[list[str] | None] = mapped_column(JSON)  # what the model must do
    context_strategy: Mapped[str] = mapped_column(String(16))  # summarize | drop
    max_tokens: Mapped[int | None] = mapped_column()
    temperature: Mapped[float | None] = mapped_column()
    # Who created it: usage of its turns is attributed to the caller of each turn.
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    created_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    message_count: Mapped[int] = mapped_column(default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    summary_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class ConversationMessage(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "llm_conversation_messages"
    # One row per position: two turns racing on one conversation cannot interleave.
    __table_args__ = (UniqueConstraint("conversation_id", "position"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("llm_conversations.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column()  # order within the conversation, from 1
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | summary
    content: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(String(16), default="active")
    # Tokens of this message alone, by the tokenizer of the model it was counted for.
    tokens: Mapped[int] = mapped_column(default=0)
    # For answers (assistant, summary): the model that wrote it and what the call cost.
    model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    request_id: Mapped[str | None] = mapped_column(String(64))
    # For a summary: the positions it folded (first..last), for the reader.
    folded: Mapped[dict[str, int] | None] = mapped_column(JSON)

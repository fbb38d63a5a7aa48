"""Trigger tables: triggers, their firings, and the webhook signatures seen recently."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped

TRIGGER_KINDS = ("cron", "webhook", "event")
MISFIRE_POLICIES = ("skip", "run_once")
FIRING_OUTCOMES = ("started", "duplicate", "failed")


class Trigger(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "triggers"
    __table_args__ = (
        Index("ix_triggers_due", "kind", "enabled", "next_fire_at"),
        Index("ix_triggers_event", "tenant_id", "event_type"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Run inputs: a mapping of input name -> value or expression over what fired the trigger;
    # None passes the webhook's JSON body or the event's data as the inputs.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    # cron
    cron_expression: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    misfire_policy: Mapped[str | None] = mapped_column(String(20))
    next_fire_at: Mapped[datetime | None] = mapped_column()
    # webhook: the URL token and signing secret are shown once; only a digest and a sealed
    # copy are kept.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    signing_secret_sealed: Mapped[str | None] = mapped_column(Text)
    sync_timeout_seconds: Mapped[float | None] = mapped_column()
    max_body_bytes: Mapped[int | None] = mapped_column(Integer)
    # event
    event_type: Mapped[str | None] = mapped_column(String(200))
    filter: Mapped[str | None] = mapped_column(Text)
    last_fired_at: Mapped[datetime | None] = mapped_column()


class TriggerFiring(TenantScoped, IdMixin, Base):
    """One firing. For cron, the unique (trigger, scheduled time) row is the claim: the process
    that inserts it starts the run, in the same transaction; any other process fails to."""

    __tablename__ = "trigger_firings"
    __table_args__ = (UniqueConstraint("trigger_id", "scheduled_at"),)

    trigger_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("triggers.id", ondelete="CASCADE"), index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column()
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the event, or the request


class WebhookSignature(TenantScoped, IdMixin, Base):
    """A signature a webhook accepted, kept until it is too old to pass the tolerance check
    anyway, so a captured request cannot be replayed (used when Redis is not configured)."""

    __tablename__ = "webhook_signatures"
    __table_args__ = (UniqueConstraint("trigger_id", "signature"),)

    trigger_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    signature: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(index=True)

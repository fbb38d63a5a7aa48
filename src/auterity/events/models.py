"""Event tables: the outbox of events, one delivery row per (event, subscriber), and the
names of the subscribers that events are fanned out to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin
from auterity.core.tenancy import TenantScoped

DELIVERY_STATUSES = ("pending", "delivered", "dead")


class Event(TenantScoped, IdMixin, Base):
    """One event, written in the transaction of the change it tells of (the outbox)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_type", "tenant_id", "type"),)

    type: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EventDelivery(TenantScoped, IdMixin, Base):
    """An event's delivery to one named subscriber: retried, and dead after too many
    failures, on its own, so the event's other subscribers never get it twice for it.

    A pending row is due at `next_attempt_at`; claiming it moves that time past the claim's
    lease, so a process that dies while delivering leaves a row that comes due again."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber"),
        Index("ix_event_deliveries_due", "status", "subscriber", "next_attempt_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    subscriber: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column()


class EventSubscriber(Base):
    """A subscriber name some process has served: each new event gets a delivery row for
    every name here, whichever process publishes it and whichever serves the name."""

    __tablename__ = "event_subscribers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

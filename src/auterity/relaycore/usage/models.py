"""The usage table: one row per gateway request, written in batches by `UsageRecorder`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin
from auterity.core.tenancy import TenantScoped


class UsageRecord(TenantScoped, IdMixin, Base):
    __tablename__ = "relay_usage"
    __table_args__ = (Index("ix_relay_usage_tenant_created", "tenant_id", "created_at"),)

    # No foreign key to api_keys: usage outlives a deleted key and must never block its deletion.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    workflow: Mapped[str | None] = mapped_column(String(200))
    run: Mapped[str | None] = mapped_column(String(200))
    step: Mapped[str | None] = mapped_column(String(200))
    requested_model: Mapped[str] = mapped_column(String(200))
    routed_model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cached_tokens: Mapped[int] = mapped_column(default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[int] = mapped_column(default=0)
    ttft_ms: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(32))  # ok | error | refused ...
    route_reason: Mapped[str | None] = mapped_column(String(200))
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    failover_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

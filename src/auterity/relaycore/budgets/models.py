"""Budget tables: the rules a tenant sets, and the per-period counters the SQL ledger keeps."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class Budget(TenantScoped, IdMixin, TimestampMixin, Base):
    """A spending limit in micro-dollars on one scope (tenant, key, workflow or run) per period."""

    __tablename__ = "relay_budgets"
    __table_args__ = (Index("ix_relay_budgets_scope", "tenant_id", "scope", "scope_id"),)

    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))  # tenant | api_key | workflow | run
    scope_id: Mapped[str | None] = mapped_column(String(200))  # None for scope "tenant"
    period: Mapped[str] = mapped_column(String(8))  # day | month | total
    limit_micros: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(8))  # hard | soft
    alert_threshold_percent: Mapped[int] = mapped_column(default=80)
    downgrade: Mapped[bool] = mapped_column(Boolean, default=False)


class BudgetCounter(TenantScoped, Base):
    """Spent and reserved micro-dollars of one budget in one period (the SQL ledger's row lock)."""

    __tablename__ = "relay_budget_counters"

    budget_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("relay_budgets.id", ondelete="CASCADE"), primary_key=True
    )
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

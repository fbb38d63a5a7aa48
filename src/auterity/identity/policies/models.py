"""The `access_policies` table: a tenant's zero-trust rules, stored as data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class AccessPolicy(TenantScoped, IdMixin, TimestampMixin, Base):
    """One rule: when every condition holds for a request, `effect` decides it."""

    __tablename__ = "access_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    # Higher first; the first rule that matches decides.
    priority: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    effect: Mapped[str] = mapped_column(String(20))  # allow | deny | require_mfa
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

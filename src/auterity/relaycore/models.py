"""RelayCore's table: each tenant's own catalog layer (models, aliases, policies, defaults)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class RelayTenantCatalog(TenantScoped, IdMixin, TimestampMixin, Base):
    """A catalog document laid over the operator's for one tenant (see `catalog.merge`)."""

    __tablename__ = "relay_tenant_catalogs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

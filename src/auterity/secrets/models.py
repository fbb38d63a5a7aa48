"""The local secret store's table: one row per version of a tenant secret, the value sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin
from auterity.core.tenancy import TenantScoped


class SecretVersion(TenantScoped, IdMixin, Base):
    """Rows are inserted per write and never changed, except that deletion blanks the value."""

    __tablename__ = "secret_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column()
    # Fernet token from `Sealer`; NULL once deleted, so a deleted secret is gone, not hidden.
    value_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))
    deleted_at: Mapped[datetime | None] = mapped_column()

"""SAML tables: each tenant's identity providers and the assertion ids already consumed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class SamlProvider(TenantScoped, IdMixin, TimestampMixin, Base):
    """One identity provider a tenant trusts to log its people in, and how to provision them."""

    __tablename__ = "saml_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    # Part of the SP entity id and of every SAML URL, so it never changes after creation.
    name: Mapped[str] = mapped_column(String(64))
    idp_entity_id: Mapped[str] = mapped_column(String(1024))
    sso_url: Mapped[str] = mapped_column(String(2048))
    idp_x509_cert: Mapped[str] = mapped_column(Text)
    # None: the email is the NameID; otherwise the attribute that carries it.
    email_attribute: Mapped[str | None] = mapped_column(String(1024))
    role_attribute: Mapped[str | None] = mapped_column(String(1024))
    role_mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # None: someone whose attributes map to no role is refused.
    default_role: Mapped[str | None] = mapped_column(String(100))
    allowed_email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class SamlConsumedAssertion(TenantScoped, IdMixin, Base):
    """An assertion that logged someone in; kept until it expires so it cannot be replayed."""

    __tablename__ = "saml_consumed_assertions"
    __table_args__ = (UniqueConstraint("provider_id", "assertion_id"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saml_providers.id", ondelete="CASCADE")
    )
    assertion_id: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column(index=True)

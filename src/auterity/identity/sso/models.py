"""SSO tables: each tenant's identity providers, logins in flight, and linked identities."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class SsoProvider(TenantScoped, IdMixin, TimestampMixin, Base):
    """One identity provider a tenant trusts; the client secret is sealed, never returned."""

    __tablename__ = "sso_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="oidc")
    issuer: Mapped[str] = mapped_column(String(500))
    # Only when the metadata does not live at `<issuer>/.well-known/openid-configuration`.
    discovery_url: Mapped[str | None] = mapped_column(String(1000))
    client_id: Mapped[str] = mapped_column(String(500))
    # None for a public client, which authenticates by PKCE alone.
    client_secret_sealed: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"claim": "groups", "map": {"admins": "admin"}, "default_role": "viewer"}
    role_mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    jit_provisioning: Mapped[bool] = mapped_column(Boolean, default=True)
    sync_roles: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class SsoLoginState(TenantScoped, IdMixin, Base):
    """A login sent to the provider and not yet back: single use, short-lived.

    The state is stored as a keyed digest, so a copy of the table cannot complete a login; the
    nonce and the PKCE verifier are needed in clear again later, so they are sealed.
    """

    __tablename__ = "sso_login_states"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce_sealed: Mapped[str] = mapped_column(Text)
    code_verifier_sealed: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class SsoIdentity(TenantScoped, IdMixin, TimestampMixin, Base):
    """Links a provider's subject (`sub`) to a user, so a later email change keeps the account."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("provider_id", "subject"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    last_login_at: Mapped[datetime | None] = mapped_column()

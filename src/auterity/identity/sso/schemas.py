"""Request and response shapes of the SSO API; the client secret is write-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SecretStr

from auterity.core.schemas import ResponseModel, StrictModel

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DOMAIN_PATTERN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


class RoleMapping(StrictModel):
    """Which tenant role a person gets from one claim of theirs (a string or a list)."""

    claim: str = Field(default="groups", min_length=1, max_length=100)
    map: dict[str, str] = Field(
        default_factory=dict,
        description="Claim value -> role; with several matches the highest role wins.",
    )
    default_role: str | None = Field(
        default="viewer", description="Role when nothing matches; null refuses those people."
    )


class SsoProviderCreate(StrictModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="Part of the login URL.")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["oidc"] = "oidc"
    issuer: str = Field(min_length=1, max_length=500, examples=["https://login.example.com"])
    discovery_url: str | None = Field(
        default=None,
        max_length=1000,
        description="Only when not at <issuer>/.well-known/openid-configuration.",
    )
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr | None = Field(
        default=None, max_length=2000, description="Never returned; omit for a public client."
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"], max_length=20)
    role_mapping: RoleMapping = Field(default_factory=RoleMapping)
    allowed_domains: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Email domains that may sign in; empty allows any.",
    )
    jit_provisioning: bool = Field(
        default=True, description="Create accounts and memberships at first sign-in."
    )
    sync_roles: bool = Field(
        default=True, description="Re-apply the role mapping at every sign-in (never to owners)."
    )
    enabled: bool = True


class SsoProviderUpdate(StrictModel):
    """Only the fields sent change; `client_secret: null` removes the secret."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    issuer: str | None = Field(default=None, min_length=1, max_length=500)
    discovery_url: str | None = Field(default=None, max_length=1000)
    client_id: str | None = Field(default=None, min_length=1, max_length=500)
    client_secret: SecretStr | None = Field(default=None, max_length=2000)
    scopes: list[str] | None = Field(default=None, max_length=20)
    role_mapping: RoleMapping | None = None
    allowed_domains: list[str] | None = Field(default=None, max_length=100)
    jit_provisioning: bool | None = None
    sync_roles: bool | None = None
    enabled: bool | None = None


class SsoProviderOut(ResponseModel):
    id: uuid.UUID
    slug: str
    name: str
    kind: str
    issuer: str
    discovery_url: str | None
    client_id: str
    has_client_secret: bool
    scopes: list[str]
    role_mapping: dict[str, Any]
    allowed_domains: list[str]
    jit_provisioning: bool
    sync_roles: bool
    enabled: bool
    login_url: str = Field(description="Send people here to sign in with this provider.")
    callback_url: str = Field(description="Register this redirect URI at the provider.")
    created_at: datetime
    updated_at: datetime

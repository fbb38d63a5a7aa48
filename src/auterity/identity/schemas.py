"""Request and response shapes of the identity API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import EmailStr, Field

from auterity.core.schemas import ResponseModel, StrictModel


class SignupRequest(StrictModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    tenant_name: str = Field(min_length=1, max_length=200)


class TokenRequest(StrictModel):
    email: EmailStr
    password: str = Field(max_length=1024)
    tenant: str | None = Field(default=None, description="Tenant id or slug (default: your first).")


class TokenResponse(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class MfaChallengeResponse(ResponseModel):
    mfa_required: bool = True
    mfa_token: str
    expires_in: int


class MfaLoginRequest(StrictModel):
    mfa_token: str
    code: str = Field(min_length=6, max_length=32)


class RefreshRequest(StrictModel):
    refresh_token: str = Field(max_length=200)


class CodeRequest(StrictModel):
    code: str = Field(min_length=6, max_length=32)


class MfaEnrolment(ResponseModel):
    secret: str
    otpauth_uri: str
    qr_png: str = Field(description="The otpauth URI as a PNG QR code, in a data: URI.")


class RecoveryCodes(ResponseModel):
    recovery_codes: list[str]


class TenantOut(ResponseModel):
    id: uuid.UUID
    name: str
    slug: str
    require_mfa: bool


class SignupResponse(ResponseModel):
    user_id: uuid.UUID
    email: str
    tenant: TenantOut
    tokens: TokenResponse


class MembershipOut(ResponseModel):
    tenant: TenantOut
    role: str


class MeResponse(ResponseModel):
    id: uuid.UUID | None
    email: str | None
    kind: str
    tenant_id: uuid.UUID
    role: str | None
    permissions: list[str]
    mfa_enabled: bool
    authentication_methods: list[str]
    tenants: list[MembershipOut]


class ApiKeyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] | None = None
    expires_at: datetime | None = None
    allowed_models: list[str] | None = None
    tags: dict[str, Any] | None = None


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    masked_key: str
    scopes: list[str]
    allowed_models: list[str] | None
    tags: dict[str, Any]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown only in this response.")


class InvitationCreate(StrictModel):
    email: EmailStr
    role: str = "viewer"


class InvitationCreated(ResponseModel):
    id: uuid.UUID
    email: str
    role: str
    token: str
    expires_at: datetime


class InvitationAccept(StrictModel):
    token: str
    password: str | None = Field(default=None, max_length=1024)


class MemberOut(ResponseModel):
    user_id: uuid.UUID
    email: str
    role: str
    created_at: datetime


class MemberUpdate(StrictModel):
    role: str


class RoleCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_-]*$")
    permissions: list[str]
    description: str | None = None


class RoleOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    permissions: list[str]


class GrantCreate(StrictModel):
    resource_type: str = Field(min_length=1, max_length=50)
    resource_id: str = Field(min_length=1, max_length=100)
    user_id: uuid.UUID | None = None
    role: str | None = None
    permissions: list[str] = Field(min_length=1)


class GrantOut(ResponseModel):
    id: uuid.UUID
    resource_type: str
    resource_id: str
    grantee_user_id: uuid.UUID | None
    grantee_role: str | None
    permissions: list[str]


class TenantUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    require_mfa: bool | None = None


class AuditEventOut(ResponseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    actor_label: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
    created_at: datetime


class AuditPage(ResponseModel):
    items: list[AuditEventOut]
    next_cursor: str | None

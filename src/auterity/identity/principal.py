"""Who is calling: the one place a request's credentials become a principal with permissions.

A bearer credential is either an API key (`ak_<prefix>_<secret>`) or a JWT access token.
Permissions are looked up per request (through the cache), not baked into tokens, so a role
change or revocation takes effect within the cache TTL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from auterity.core.clock import utcnow
from auterity.core.errors import PermissionDenied, Unauthenticated
from auterity.core.metrics import counter
from auterity.core.tenancy import UNSCOPED_KEY
from auterity.identity.context import IdentityContext
from auterity.identity.models import ApiKey, Membership, Role, Tenant, User
from auterity.identity.permissions import BUILTIN_ROLES

PERMISSION_TTL = 30.0
KEY_TTL = 60.0
LAST_USED_RESOLUTION = timedelta(minutes=1)
API_KEY_PREFIX = "ak_"
FAILED_AUTHENTICATION = counter(
    "failed_authentication_attempts", "Requests refused for bad credentials", ("kind",)
)


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "api_key"
    tenant_id: uuid.UUID
    permissions: frozenset[str]
    label: str
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    role: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: datetime | None = None  # when the user logged in (with `amr`); None for keys
    allowed_models: tuple[str, ...] | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    mfa_enrolment_required: bool = False

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, *permissions: str) -> None:
        missing = [p for p in permissions if p not in self.permissions]
        if missing:
            raise PermissionDenied(f"This needs the permission(s) {', '.join(missing)}.")

    def audit_actor(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "actor_user_id": self.user_id,
            "actor_api_key_id": self.api_key_id,
            "actor_label": self.label,
        }


async def role_permissions(
    identity: IdentityContext, tenant_id: uuid.UUID, role: str
) -> frozenset[str]:
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]
    async with identity.runtime.db.session(readonly=True) as session:
        found = await session.execute(
            select(Role.permissions)
            .where(Role.tenant_id == tenant_id, Role.name == role)
            .execution_options(**{UNSCOPED_KEY: True})
        )
        permissions = found.scalar_one_or_none()
    return frozenset(permissions or ())


async def _membership(
    identity: IdentityContext, user_id: uuid.UUID, tenant_id: uuid.UUID
) -> dict[str, Any] | None:
    async def load() -> dict[str, Any] | None:
        async with identity.runtime.db.session(readonly=True) as session:
            row = (
                await session.execute(
                    select(
                        Membership.role,
                        User.email,
                        User.is_active,
                        User.mfa_enabled,
                        Tenant.require_mfa,
                    )
                    .join(User, User.id == Membership.user_id)
                    .join(Tenant, Tenant.id == Membership.tenant_id)
                    .where(Membership.user_id == user_id, Membership.tenant_id == tenant_id)
                )
            ).one_or_none()
        if row is None or not row.is_active:
            return None
        permissions = await role_permissions(identity, tenant_id, row.role)
        return {
            "role": row.role,
            "email": row.email,
            "permissions": sorted(permissions),
            "mfa_enabled": row.mfa_enabled,
            "require_mfa": row.require_mfa,
        }

    cached: dict[str, Any] | None = await identity.runtime.cache.get_or_load(
        membership_cache_key(user_id, tenant_id), load, PERMISSION_TTL
    )
    return cached


def membership_cache_key(user_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    return f"membership:{user_id}:{tenant_id}"


def api_key_cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


async def principal_from_jwt(identity: IdentityContext, token: str) -> Principal:
    kid = identity.tokens.kid_of(token)
    if identity.keyring.public_key(kid) is None:
        # Another process may have rotated keys since we loaded them.
        async with identity.runtime.db.session(readonly=True) as session:
            await identity.keyring.load(session)
    claims = identity.tokens.verify(token)
    member = await _membership(identity, claims.user_id, claims.tenant_id)
    if member is None:
        raise Unauthenticated("The account is not active in this tenant.")
    return Principal(
        kind="user",
        tenant_id=claims.tenant_id,
        user_id=claims.user_id,
        label=member["email"],
        role=member["role"],
        permissions=frozenset(member["permissions"]),
        amr=claims.amr,
        auth_time=None
        if claims.auth_time is None
        else datetime.fromtimestamp(claims.auth_time, UTC),
        mfa_enrolment_required=bool(member["require_mfa"]) and "mfa" not in claims.amr,
    )


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != "ak" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def principal_from_api_key(identity: IdentityContext, key: str) -> Principal:
    split = split_api_key(key)
    if split is None:
        raise Unauthenticated("The API key is malformed.")
    prefix = split[0]

    async def load() -> dict[str, Any] | None:
        async with identity.runtime.db.session(readonly=True) as session:
            row = (
                await session.execute(
                    select(ApiKey)
                    .where(ApiKey.prefix == prefix)
                    .execution_options(**{UNSCOPED_KEY: True})
                )
            ).scalar_one_or_none()
        if row is None:
            return None
        return {
            "id": str(row.id),
            "tenant_id": str(row.tenant_id),
            "name": row.name,
            "hash": row.key_hash,
            "scopes": row.scopes,
            "allowed_models": row.allowed_models,
            "tags": row.tags,
            "expires_at": row.expires_at.timestamp() if row.expires_at else None,
            "revoked": row.revoked_at is not None,
            "last_used_at": row.last_used_at.timestamp() if row.last_used_at else None,
        }

    record: dict[str, Any] | None = await identity.runtime.cache.get_or_load(
        api_key_cache_key(prefix), load, KEY_TTL
    )
    if record is None or not identity.runtime.hasher.matches(key, record["hash"]):
        raise Unauthenticated("The API key is not valid.")
    now = utcnow()
    if record["revoked"]:
        raise Unauthenticated("The API key has been revoked.")
    if record["expires_at"] is not None and record["expires_at"] <= now.timestamp():
        raise Unauthenticated("The API key has expired.")
    key_id = uuid.UUID(record["id"])
    last_used = record["last_used_at"]
    current_hash = identity.runtime.hasher.digest(key)
    stale_hash = record["hash"] != current_hash  # stored under a previous secret key
    if (
        stale_hash
        or last_used is None
        or now.timestamp() - last_used > LAST_USED_RESOLUTION.total_seconds()
    ):
        # Written at most once a minute per key, so the hot path stays read-only.
        record["last_used_at"], record["hash"] = now.timestamp(), current_hash
        async with identity.runtime.db.session() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(last_used_at=now, key_hash=current_hash)
            )
    return Principal(
        kind="api_key",
        tenant_id=uuid.UUID(record["tenant_id"]),
        api_key_id=key_id,
        label=f"api-key:{record['name']}",
        permissions=frozenset(record["scopes"]),
        allowed_models=tuple(record["allowed_models"])
        if record["allowed_models"] is not None
        else None,
        tags=record["tags"] or {},
    )


async def authenticate(identity: IdentityContext, credential: str) -> Principal:
    kind = "api_key" if credential.startswith(API_KEY_PREFIX) else "jwt"
    try:
        if kind == "api_key":
            return await principal_from_api_key(identity, credential)
        return await principal_from_jwt(identity, credential)
    except Unauthenticated:
        FAILED_AUTHENTICATION.labels(kind).inc()
        raise

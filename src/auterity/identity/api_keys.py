"""API keys: `ak_<prefix>_<secret>`, shown once, stored as an HMAC digest, scoped and revocable."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import FieldError, ValidationFailed
from auterity.core.lookup import one_or_404
from auterity.identity import audit
from auterity.identity.context import IdentityContext
from auterity.identity.models import ApiKey
from auterity.identity.permissions import Permission, unknown_permissions
from auterity.identity.principal import Principal, api_key_cache_key

# Least privilege: a key asked for without scopes may only call the AI gateway.
DEFAULT_SCOPES = [Permission.RELAY_USE.value]


async def create_api_key(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: list[str] | None,
    expires_at: datetime | None,
    allowed_models: list[str] | None,
    tags: dict[str, Any] | None,
) -> tuple[ApiKey, str]:
    wanted = sorted(set(DEFAULT_SCOPES if scopes is None else scopes))
    errors = []
    unknown = unknown_permissions(set(wanted))
    if unknown:
        errors.append(FieldError("/scopes", f"unknown scope(s): {', '.join(unknown)}"))
    beyond = sorted(set(wanted) - principal.permissions - set(unknown))
    if beyond:
        errors.append(
            FieldError("/scopes", f"you do not hold {', '.join(beyond)}, so a key cannot either")
        )
    if expires_at is not None and expires_at <= utcnow():
        errors.append(FieldError("/expires_at", "must be in the future"))
    if errors:
        raise ValidationFailed("The API key request is invalid.", errors=errors)
    prefix = secrets.token_hex(4)
    key = f"ak_{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"
    row = ApiKey(
        tenant_id=principal.tenant_id,
        name=name,
        prefix=prefix,
        key_hash=identity.runtime.hasher.digest(key),
        created_by=principal.user_id,
        scopes=wanted,
        allowed_models=allowed_models,
        tags=tags or {},
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        "api_key.created",
        **principal.audit_actor(),
        target_type="api_key",
        target_id=row.id,
        details={"name": name, "scopes": wanted},
    )
    return row, key


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars())


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    return await one_or_404(
        session, select(ApiKey).where(ApiKey.id == key_id), f"API key {key_id} does not exist."
    )


async def revoke_api_key(
    identity: IdentityContext, session: AsyncSession, principal: Principal, key_id: uuid.UUID
) -> ApiKey:
    row = await get_api_key(session, key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            "api_key.revoked",
            **principal.audit_actor(),
            target_type="api_key",
            target_id=row.id,
        )
    await session.flush()
    await identity.runtime.cache.invalidate(api_key_cache_key(row.prefix))
    return row

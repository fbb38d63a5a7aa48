"""Tenant administration of SSO providers: settings checked, the client secret sealed (no HTTP)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from auterity.core.runtime import Runtime
from auterity.identity.models import Role
from auterity.identity.permissions import BUILTIN_ROLES
from auterity.identity.sso.discovery import url_problem
from auterity.identity.sso.models import SsoProvider
from auterity.identity.sso.schemas import (
    DOMAIN_PATTERN,
    RoleMapping,
    SsoProviderCreate,
    SsoProviderUpdate,
)


async def _role_errors(session: AsyncSession, mapping: RoleMapping) -> list[FieldError]:
    wanted = {f"/role_mapping/map/{key}": role for key, role in mapping.map.items()}
    if mapping.default_role is not None:
        wanted["/role_mapping/default_role"] = mapping.default_role
    custom = set((await session.execute(select(Role.name))).scalars())
    errors = []
    for pointer, role in wanted.items():
        if role == "owner":
            errors.append(FieldError(pointer, "SSO cannot make owners", hint="use admin at most"))
        elif role not in BUILTIN_ROLES and role not in custom:
            errors.append(
                FieldError(
                    pointer,
                    f"{role!r} is not a built-in or custom role of this tenant",
                    hint=f"built-in roles: {', '.join(r for r in BUILTIN_ROLES if r != 'owner')}",
                )
            )
    return errors


def _url_errors(runtime: Runtime, fields: dict[str, str | None]) -> list[FieldError]:
    allow = runtime.settings.environment != "production"
    errors = []
    for name, value in fields.items():
        problem = url_problem(value, allow_loopback_http=allow) if value else None
        if problem:
            errors.append(FieldError(f"/{name}", problem))
    return errors


def _domains(domains: list[str]) -> tuple[list[str], list[FieldError]]:
    cleaned = [d.strip().lower().removeprefix("@") for d in domains]
    errors = [
        FieldError(f"/allowed_domains/{i}", "not a domain name", hint="like example.com")
        for i, d in enumerate(cleaned)
        if not re.fullmatch(DOMAIN_PATTERN, d)
    ]
    return sorted(set(cleaned)), errors


def _scopes(scopes: list[str]) -> list[str]:
    # Without `openid` the provider answers plain OAuth (no ID token): always ask for it.
    ordered = ["openid", *scopes]
    return list(dict.fromkeys(s.strip() for s in ordered if s.strip()))


async def _check(
    session: AsyncSession,
    runtime: Runtime,
    *,
    urls: dict[str, str | None],
    mapping: RoleMapping | None,
    domains: list[str] | None,
) -> list[str] | None:
    errors = _url_errors(runtime, urls)
    if mapping is not None:
        errors += await _role_errors(session, mapping)
    cleaned = None
    if domains is not None:
        cleaned, domain_errors = _domains(domains)
        errors += domain_errors
    if errors:
        raise ValidationFailed("The sign-in provider settings are invalid.", errors=errors)
    return cleaned


async def create_provider(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, body: SsoProviderCreate
) -> SsoProvider:
    domains = await _check(
        session,
        runtime,
        urls={"issuer": body.issuer, "discovery_url": body.discovery_url},
        mapping=body.role_mapping,
        domains=body.allowed_domains,
    )
    taken = await session.execute(select(SsoProvider.id).where(SsoProvider.slug == body.slug))
    if taken.first() is not None:
        raise Conflict(f"A sign-in provider {body.slug!r} already exists in this tenant.")
    secret = body.client_secret.get_secret_value() if body.client_secret else None
    provider = SsoProvider(
        tenant_id=tenant_id,
        slug=body.slug,
        name=body.name,
        kind=body.kind,
        issuer=body.issuer,
        discovery_url=body.discovery_url,
        client_id=body.client_id,
        client_secret_sealed=runtime.sealer.seal(secret) if secret else None,
        scopes=_scopes(body.scopes),
        role_mapping=body.role_mapping.model_dump(),
        allowed_domains=domains or [],
        jit_provisioning=body.jit_provisioning,
        sync_roles=body.sync_roles,
        enabled=body.enabled,
    )
    session.add(provider)
    await session.flush()
    return provider


async def update_provider(
    session: AsyncSession, runtime: Runtime, provider: SsoProvider, body: SsoProviderUpdate
) -> list[str]:
    """Apply the fields sent; returns their names (for the audit log, never their values)."""
    sent = body.model_fields_set
    domains = await _check(
        session,
        runtime,
        urls={name: getattr(body, name) for name in ("issuer", "discovery_url") if name in sent},
        mapping=body.role_mapping if "role_mapping" in sent else None,
        domains=body.allowed_domains if "allowed_domains" in sent else None,
    )
    changes: dict[str, Any] = {}
    for name in sent:
        value = getattr(body, name)
        if name == "client_secret":
            changes["client_secret_sealed"] = (
                runtime.sealer.seal(value.get_secret_value()) if value else None
            )
        elif value is None and name != "discovery_url":
            raise ValidationFailed(
                "The sign-in provider settings are invalid.",
                errors=[FieldError(f"/{name}", "may not be null")],
            )
        elif name == "scopes":
            changes[name] = _scopes(value)
        elif name == "role_mapping":
            changes[name] = value.model_dump()
        elif name == "allowed_domains":
            changes[name] = domains
        else:
            changes[name] = value
    for name, value in changes.items():
        setattr(provider, name, value)
    await session.flush()
    return sorted(sent)


async def get_provider(session: AsyncSession, provider_id: uuid.UUID) -> SsoProvider:
    found = await session.execute(select(SsoProvider).where(SsoProvider.id == provider_id))
    provider = found.scalar_one_or_none()
    if provider is None:
        raise NotFound(f"Sign-in provider {provider_id} does not exist.")
    return provider


async def list_providers(session: AsyncSession) -> list[SsoProvider]:
    found = await session.execute(select(SsoProvider).order_by(SsoProvider.created_at))
    return list(found.scalars())

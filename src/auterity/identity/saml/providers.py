"""Managing a tenant's SAML identity providers: checking and storing their configuration."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from auterity.identity.accounts import check_can_assign
from auterity.identity.models import Role, Tenant
from auterity.identity.permissions import BUILTIN_ROLES
from auterity.identity.saml import protocol
from auterity.identity.saml.models import SamlProvider
from auterity.identity.sso.discovery import url_problem

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_NOT_NULL = (
    "idp_entity_id", "sso_url", "idp_x509_cert", "role_mapping", "allowed_email_domains", "enabled"
)  # fmt: skip
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def load_certificate(text: str) -> x509.Certificate:
    """A certificate from PEM or bare base64 DER (what IdP metadata and consoles show)."""
    match = _PEM.search(text)
    body = match.group(1) if match else text
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            "The IdP certificate cannot be read.",
            errors=[
                FieldError(
                    "/idp_x509_cert",
                    "not an X.509 certificate",
                    hint="paste the PEM (-----BEGIN CERTIFICATE-----...) from the IdP metadata",
                )
            ],
        ) from None


def certificate_pem(text: str) -> str:
    return load_certificate(text).public_bytes(Encoding.PEM).decode()


def _domains(values: list[str]) -> list[str]:
    cleaned = sorted({value.strip().lower().lstrip("@") for value in values})
    bad = [value for value in cleaned if not _DOMAIN.match(value)]
    if bad:
        raise ValidationFailed(
            "Invalid email domain(s).",
            errors=[
                FieldError("/allowed_email_domains", f"not a domain name: {value!r}")
                for value in bad
            ],
        )
    return cleaned


async def _check_roles(
    session: AsyncSession, actor_role: str | None, wanted: dict[str, str | None]
) -> None:
    """Every role the IdP may hand out exists here, and the admin may grant it."""
    custom = set((await session.execute(select(Role.name))).scalars())
    grantable = ", ".join(role for role in BUILTIN_ROLES if role != "owner")
    errors = []
    for pointer, role in wanted.items():
        if role == "owner":
            # As for OIDC: an IdP group must not be able to mint owners.
            errors.append(FieldError(pointer, "SAML cannot make owners", hint="use admin at most"))
        elif role is not None and role not in BUILTIN_ROLES and role not in custom:
            errors.append(
                FieldError(pointer, f"unknown role {role!r}", hint=f"built-in: {grantable}")
            )
    if errors:
        raise ValidationFailed("The role mapping names unknown roles.", errors=errors)
    for role in wanted.values():
        if role is not None:
            check_can_assign(actor_role, role)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


async def _normalise(
    session: AsyncSession,
    actor_role: str | None,
    changes: dict[str, Any],
    allow_loopback_http: bool,
) -> dict[str, Any]:
    if changes.get("sso_url") is not None:
        # The browser takes the person's IdP password there: plain http only on loopback.
        problem = url_problem(changes["sso_url"], allow_loopback_http=allow_loopback_http)
        if problem:
            raise ValidationFailed(
                f"The SSO URL {problem}.", errors=[FieldError("/sso_url", problem)]
            )
    if "idp_x509_cert" in changes:
        changes["idp_x509_cert"] = certificate_pem(changes["idp_x509_cert"])
    if changes.get("allowed_email_domains") is not None:
        changes["allowed_email_domains"] = _domains(changes["allowed_email_domains"])
    roles: dict[str, str | None] = {}
    if "default_role" in changes:
        roles["/default_role"] = changes["default_role"]
    for key, role in (changes.get("role_mapping") or {}).items():
        roles[f"/role_mapping/{_escape(key)}"] = role
    await _check_roles(session, actor_role, roles)
    return changes


def service_provider(
    base_url: str, tenant: Tenant, provider: SamlProvider
) -> protocol.ServiceProvider:
    return protocol.ServiceProvider.for_provider(base_url, tenant.slug, provider.name)


def identity_provider(provider: SamlProvider) -> protocol.IdentityProvider:
    return protocol.IdentityProvider(
        entity_id=provider.idp_entity_id,
        sso_url=provider.sso_url,
        x509_cert=provider.idp_x509_cert,
        wants_email_name_id=provider.email_attribute is None,
    )


_SETTING_POINTERS = {"idp_sso_url_invalid": "/sso_url", "idp_entityId_not_found": "/idp_entity_id"}


def check_against_library(provider: SamlProvider) -> None:
    """Refuse a configuration python3-saml would refuse at login time."""
    problems = protocol.idp_problems(identity_provider(provider))
    if problems:
        raise ValidationFailed(
            "The identity provider settings are not usable.",
            errors=[FieldError(_SETTING_POINTERS.get(code, ""), code) for code in problems],
        )


async def get_provider(session: AsyncSession, name: str) -> SamlProvider:
    """`session` is bound to the tenant, so this only finds the tenant's own providers."""
    found = await session.execute(select(SamlProvider).where(SamlProvider.name == name))
    provider = found.scalar_one_or_none()
    if provider is None:
        raise NotFound(f"No SAML identity provider is named {name!r}.")
    return provider


async def create_provider(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor_role: str | None,
    values: dict[str, Any],
    *,
    allow_loopback_http: bool,
) -> SamlProvider:
    values = await _normalise(session, actor_role, values, allow_loopback_http)
    taken = await session.execute(
        select(SamlProvider.id).where(SamlProvider.name == values["name"])
    )
    if taken.first() is not None:
        raise Conflict(f"A SAML identity provider named {values['name']!r} already exists.")
    provider = SamlProvider(tenant_id=tenant_id, **values)
    check_against_library(provider)
    session.add(provider)
    await session.flush()
    return provider


async def update_provider(
    session: AsyncSession,
    provider: SamlProvider,
    actor_role: str | None,
    changes: dict[str, Any],
    *,
    allow_loopback_http: bool,
) -> dict[str, Any]:
    """Apply `changes` (only the fields given); returns what was applied."""
    cleared = [key for key in _NOT_NULL if key in changes and changes[key] is None]
    if cleared:
        raise ValidationFailed(
            "These fields cannot be null.",
            errors=[FieldError(f"/{key}", "cannot be null") for key in cleared],
        )
    changes = await _normalise(session, actor_role, changes, allow_loopback_http)
    for key, value in changes.items():
        setattr(provider, key, value)
    check_against_library(provider)
    await session.flush()
    return changes

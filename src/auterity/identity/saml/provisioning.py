"""Just-in-time provisioning: the person a valid assertion names becomes a user with a role.

The IdP decides the role of the people it provisions: on every login the role is set from the
assertion's attributes, except an owner's, which only Auterity changes (a tenant keeps an owner
even when the IdP's groups are wrong). A new email gets a user without a password. An
existing account that is not yet a member of the tenant is not joined to it: the IdP is run by
the tenant's admin, who could otherwise claim any email and see that person's other tenants.
Such a person is invited once; from then on the IdP logs them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.identity import audit
from auterity.identity.accounts import USER_REGISTRATIONS, find_user, normalise_email
from auterity.identity.context import IdentityContext
from auterity.identity.models import Membership, Role, User
from auterity.identity.permissions import BUILTIN_ROLES, ROLE_RANK
from auterity.identity.principal import membership_cache_key
from auterity.identity.saml.models import SamlProvider
from auterity.identity.saml.protocol import Assertion
from auterity.identity.saml.refusal import not_accepted, not_allowed

CUSTOM_ROLE_RANK = 2  # as in accounts.check_can_assign: a custom role ranks as editor


@dataclass(frozen=True)
class Provisioned:
    user: User
    role: str
    user_created: bool


def email_of(provider: SamlProvider, assertion: Assertion) -> str:
    """The email the assertion names: the configured attribute, else the NameID."""
    if provider.email_attribute:
        values = assertion.attributes.get(provider.email_attribute) or []
        raw = values[0] if values else None
    else:
        raw = assertion.name_id
    if not raw:
        raise not_accepted("no_email", f"no value for {provider.email_attribute or 'NameID'}")
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise not_accepted("no_email", str(exc)) from None
    return normalise_email(checked.normalized)


def check_domain(provider: SamlProvider, email: str) -> None:
    domain = email.rsplit("@", 1)[1]
    if provider.allowed_email_domains and domain not in provider.allowed_email_domains:
        raise not_allowed("email_domain_not_allowed", f"domain {domain!r}")


def role_for(provider: SamlProvider, attributes: dict[str, list[str]]) -> str:
    """The highest-ranked role the attribute values map to, else the default role."""
    mapped: set[str] = set()
    if provider.role_attribute:
        values = attributes.get(provider.role_attribute) or []
        mapped = {provider.role_mapping[v] for v in values if v in provider.role_mapping}
    if mapped:
        return max(mapped, key=lambda role: (ROLE_RANK.get(role, CUSTOM_ROLE_RANK), role))
    if provider.default_role is None:
        raise not_allowed("no_role", "no attribute value maps to a role and there is no default")
    return provider.default_role


async def _check_role_exists(session: AsyncSession, role: str) -> None:
    # A custom role may have been deleted since the mapping was saved.
    if role in BUILTIN_ROLES:
        return
    if (await session.execute(select(Role.id).where(Role.name == role))).first() is None:
        raise not_allowed("mapped_role_unknown", f"role {role!r} does not exist")


async def provision(
    identity: IdentityContext, session: AsyncSession, provider: SamlProvider, email: str, role: str
) -> Provisioned:
    """The user for `email` with `role` in the provider's tenant (`session` is bound to it)."""
    await _check_role_exists(session, role)
    tenant_id = provider.tenant_id
    actor: dict[str, Any] = {"tenant_id": tenant_id, "actor_label": email}
    user = await find_user(session, email)
    if user is None:
        user = User(email=email, password_hash=None)
        session.add(user)
        await session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        USER_REGISTRATIONS.labels("saml").inc()
        audit.record(
            session, "member.provisioned", **actor, actor_user_id=user.id, target_type="user",
            target_id=user.id, details={"role": role, "provider": provider.name},
        )  # fmt: skip
        user.last_login_at = utcnow()
        await session.flush()
        return Provisioned(user, role, user_created=True)
    if not user.is_active:
        raise not_allowed("user_inactive")
    found = await session.execute(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
    )
    membership = found.scalar_one_or_none()
    if membership is None:
        raise not_allowed("account_not_member", "an existing account must be invited first")
    if membership.role != role and membership.role != "owner":
        previous, membership.role = membership.role, role
        audit.record(
            session, "member.role_changed", **actor, actor_user_id=user.id, target_type="user",
            target_id=user.id, details={"from": previous, "to": role, "provider": provider.name},
        )  # fmt: skip
        await session.flush()
        await identity.runtime.cache.invalidate(membership_cache_key(user.id, tenant_id))
    user.last_login_at = utcnow()
    return Provisioned(user, membership.role, user_created=False)

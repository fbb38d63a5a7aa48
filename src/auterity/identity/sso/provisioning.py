"""Who a signed-in person becomes here: email checks, role mapping and just-in-time accounts.

A person is found by the provider's subject first (a linked identity), then by email (an
existing Auterity user must already be a member, or be invited), and otherwise created
without a password (SSO only).
Their role in the tenant follows the provider's claims when the provider syncs roles; an
owner's role is never changed by a claim, and no mapping can make someone an owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import PermissionDenied
from auterity.core.tenancy import UNSCOPED_KEY
from auterity.identity.accounts import USER_REGISTRATIONS, find_user, normalise_email
from auterity.identity.models import Membership, User
from auterity.identity.permissions import ROLE_RANK
from auterity.identity.sso.models import SsoIdentity, SsoProvider
from auterity.identity.sso.oidc import LoginRefused, VerifiedLogin

# Custom roles rank as editor when several mapped roles compete (as in accounts.check_can_assign).
CUSTOM_ROLE_RANK = 2


def _claim_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def map_role(mapping: dict[str, Any], claims: dict[str, Any]) -> str | None:
    """The role the claims earn: the highest mapped one, else the default (None: no access)."""
    claim = mapping.get("claim") or "groups"
    table: dict[str, str] = mapping.get("map") or {}
    earned = [table[v] for v in _claim_values(claims.get(claim)) if v in table]
    if earned:
        # Highest rank wins; ties go to the built-in role, then by name, so the claim's order
        # (which providers do not promise) never decides.
        return max(
            earned,
            key=lambda role: (ROLE_RANK.get(role, CUSTOM_ROLE_RANK), role in ROLE_RANK, role),
        )
    default: str | None = mapping.get("default_role")
    return default


def email_domain_allowed(email: str, allowed_domains: list[str]) -> bool:
    if not allowed_domains:
        return True
    domain = email.rpartition("@")[2]
    return domain in {d.lower() for d in allowed_domains}


def checked_email(provider: SsoProvider, claims: dict[str, Any]) -> str:
    """The person's email, refused when missing, unverified or outside the allowed domains."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise LoginRefused(
            "no_email",
            PermissionDenied(
                "The identity provider did not share an email address; add the `email` scope."
            ),
        )
    # An absent claim is accepted (many enterprise providers only hold verified addresses);
    # an explicit false is not, or anyone could claim an existing user's address.
    if claims.get("email_verified") is False:
        raise LoginRefused(
            "email_unverified",
            PermissionDenied("Your email address is not verified at the identity provider."),
        )
    email = normalise_email(email)
    if not email_domain_allowed(email, provider.allowed_domains):
        raise LoginRefused(
            "domain_not_allowed",
            PermissionDenied(
                "Your email domain may not sign in to this tenant with this provider."
            ),
        )
    return email


@dataclass(frozen=True)
class Provisioned:
    user: User
    role: str
    user_created: bool
    joined: bool
    previous_role: str | None


async def _find_linked(
    session: AsyncSession, provider: SsoProvider, subject: str
) -> tuple[SsoIdentity | None, User | None]:
    found = await session.execute(
        select(SsoIdentity, User)
        .join(User, User.id == SsoIdentity.user_id)
        .where(SsoIdentity.provider_id == provider.id, SsoIdentity.subject == subject)
        .execution_options(**{UNSCOPED_KEY: True})
    )
    row = found.tuples().one_or_none()
    return (row[0], row[1]) if row else (None, None)


async def provision(
    session: AsyncSession, provider: SsoProvider, login: VerifiedLogin
) -> Provisioned:
    """Find or create the user and their membership of the provider's tenant."""
    email = checked_email(provider, login.claims)
    mapped = map_role(provider.role_mapping, login.claims)
    identity, user = await _find_linked(session, provider, login.subject)
    user = user or await find_user(session, email)
    user_created = False
    if user is None:
        if not provider.jit_provisioning:
            raise _not_provisioned()
        user = User(email=email, password_hash=None)
        session.add(user)
        await session.flush()
        USER_REGISTRATIONS.labels("sso").inc()
        user_created = True
    if not user.is_active:
        raise LoginRefused("user_inactive", PermissionDenied("This account is deactivated."))
    membership = (
        await session.execute(
            select(Membership)
            .where(Membership.tenant_id == provider.tenant_id, Membership.user_id == user.id)
            .execution_options(**{UNSCOPED_KEY: True})
        )
    ).scalar_one_or_none()
    previous_role = membership.role if membership else None
    if membership is None:
        if not provider.jit_provisioning:
            raise _not_provisioned()
        if not user_created and identity is None:
            # The tenant's admin controls this IdP: letting it vouch for an account that exists
            # outside the tenant would let any tenant take over any user. Invite them instead.
            raise _not_provisioned()
        if mapped is None:
            raise _no_role()
        membership = Membership(tenant_id=provider.tenant_id, user_id=user.id, role=mapped)
        session.add(membership)
    elif provider.sync_roles and membership.role != "owner":
        if mapped is None:
            raise _no_role()
        membership.role = mapped
    if identity is None:
        identity = SsoIdentity(
            tenant_id=provider.tenant_id, provider_id=provider.id, subject=login.subject,
            user_id=user.id, email=email,
        )  # fmt: skip
        session.add(identity)
    identity.email = email
    identity.last_login_at = user.last_login_at = utcnow()
    await session.flush()
    return Provisioned(
        user=user,
        role=membership.role,
        user_created=user_created,
        joined=previous_role is None,
        previous_role=previous_role,
    )


def _not_provisioned() -> LoginRefused:
    return LoginRefused(
        "not_provisioned",
        PermissionDenied("You have no account in this tenant; ask an administrator to invite you."),
    )


def _no_role() -> LoginRefused:
    return LoginRefused(
        "no_role",
        PermissionDenied("Your groups at the identity provider give you no access to this tenant."),
    )

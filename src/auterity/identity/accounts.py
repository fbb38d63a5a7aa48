"""Accounts: sign-up, users, tenants, memberships, custom roles and invitations (no HTTP here)."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.crypto import TokenHasher
from auterity.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from auterity.core.metrics import counter
from auterity.core.tenancy import UNSCOPED_KEY
from auterity.identity import audit
from auterity.identity.models import Invitation, Membership, Role, Tenant, User
from auterity.identity.passwords import check_strength, hash_password
from auterity.identity.permissions import BUILTIN_ROLES, ROLE_RANK, unknown_permissions

USER_REGISTRATIONS = counter("user_registrations", "Users created", ("source",))
INVITATION_TTL = timedelta(days=7)


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def unique_slug(session: AsyncSession, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "tenant"
    slug = base
    while (await session.execute(select(Tenant.id).where(Tenant.slug == slug))).first():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


async def find_user(session: AsyncSession, email: str) -> User | None:
    found = await session.execute(select(User).where(User.email == normalise_email(email)))
    return found.scalar_one_or_none()


async def create_tenant_with_owner(
    session: AsyncSession,
    *,
    email: str,
    password: str | None,
    tenant_name: str,
    role: str = "owner",
    source: str = "signup",
) -> tuple[Tenant, User]:
    """A new tenant with `email` as its first member (an existing user joins it)."""
    if role not in BUILTIN_ROLES:
        raise ValidationFailed(
            f"Unknown role {role!r}.",
            errors=[FieldError("/role", f"choose one of {', '.join(BUILTIN_ROLES)}")],
        )
    email = normalise_email(email)
    user = await find_user(session, email)
    if user is None:
        if password is None:
            raise ValidationFailed(
                "A password is required for a new user.",
                errors=[FieldError("/password", "Field required.")],
            )
        check_strength(password, email=email)
        user = User(email=email, password_hash=hash_password(password))
        session.add(user)
        USER_REGISTRATIONS.labels(source).inc()
    elif source == "signup":
        raise Conflict("Sign-up failed: this email cannot be used. Log in instead, or use another.")
    tenant = Tenant(name=tenant_name.strip(), slug=await unique_slug(session, tenant_name))
    session.add(tenant)
    await session.flush()
    session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    audit.record(
        session,
        "tenant.created",
        tenant_id=tenant.id,
        actor_user_id=user.id,
        actor_label=email,
        target_type="tenant",
        target_id=tenant.id,
    )
    await session.flush()
    return tenant, user


async def memberships_of(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[Membership, Tenant]]:
    rows = await session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at)
        .execution_options(**{UNSCOPED_KEY: True})
    )
    return [(m, t) for m, t in rows.tuples()]


async def validate_role(session: AsyncSession, tenant_id: uuid.UUID, role: str) -> None:
    if role in BUILTIN_ROLES:
        return
    found = await session.execute(
        select(Role.id).where(Role.tenant_id == tenant_id, Role.name == role)
    )
    if found.first() is None:
        raise ValidationFailed(
            f"Unknown role {role!r}.",
            errors=[
                FieldError(
                    "/role",
                    "not a built-in or custom role of this tenant",
                    hint=f"built-in roles: {', '.join(BUILTIN_ROLES)}",
                )
            ],
        )


def check_can_assign(
    actor_role: str | None, target_role: str, current_role: str | None = None
) -> None:
    """Nobody grants above their own rank; only owners touch owners."""
    actor_rank = ROLE_RANK.get(actor_role or "", 0)
    for role in filter(None, (target_role, current_role)):
        rank = ROLE_RANK.get(role, 2)  # custom roles rank as editor
        if rank > actor_rank or (role == "owner" and actor_role != "owner"):
            raise PermissionDenied(
                f"A {actor_role or 'caller'} cannot assign or change the role {role!r}."
            )


async def create_role(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    permissions: list[str],
    description: str | None,
) -> Role:
    if name in BUILTIN_ROLES:
        raise Conflict(f"{name!r} is a built-in role.")
    unknown = unknown_permissions(set(permissions))
    if unknown:
        raise ValidationFailed(
            "Unknown permission(s).",
            errors=[FieldError("/permissions", f"unknown: {', '.join(unknown)}")],
        )
    if (await session.execute(select(Role.id).where(Role.name == name))).first():
        raise Conflict(f"A role named {name!r} already exists.")
    role = Role(
        tenant_id=tenant_id,
        name=name,
        permissions=sorted(set(permissions)),
        description=description,
    )
    session.add(role)
    await session.flush()
    return role


async def count_owners(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    found = await session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.role == "owner")
    )
    return int(found.scalar_one())


async def create_invitation(
    session: AsyncSession,
    hasher: TokenHasher,
    tenant_id: uuid.UUID,
    email: str,
    role: str,
    invited_by: uuid.UUID | None,
) -> tuple[Invitation, str]:
    await validate_role(session, tenant_id, role)
    token = "inv_" + secrets.token_urlsafe(24)
    invitation = Invitation(
        tenant_id=tenant_id,
        email=normalise_email(email),
        role=role,
        invited_by=invited_by,
        token_hash=hasher.digest(token),
        expires_at=utcnow() + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    return invitation, token


async def accept_invitation(
    session: AsyncSession, hasher: TokenHasher, token: str, password: str | None
) -> tuple[Invitation, User]:
    found = await session.execute(
        select(Invitation)
        .where(Invitation.token_hash.in_(hasher.candidates(token)))
        .execution_options(**{UNSCOPED_KEY: True})
    )
    invitation = found.scalar_one_or_none()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at < utcnow():
        raise NotFound("This invitation does not exist, was used, or has expired.")
    user = await find_user(session, invitation.email)
    if user is None:
        if password is None:
            raise ValidationFailed(
                "Choose a password to create your account.",
                errors=[FieldError("/password", "Field required.")],
            )
        check_strength(password, email=invitation.email)
        user = User(email=invitation.email, password_hash=hash_password(password))
        session.add(user)
        await session.flush()
        USER_REGISTRATIONS.labels("invitation").inc()
    existing = await session.execute(
        select(Membership)
        .where(Membership.tenant_id == invitation.tenant_id, Membership.user_id == user.id)
        .execution_options(**{UNSCOPED_KEY: True})
    )
    if existing.scalar_one_or_none() is None:
        session.add(
            Membership(tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role)
        )
    invitation.accepted_at = utcnow()
    audit.record(
        session,
        "invitation.accepted",
        tenant_id=invitation.tenant_id,
        actor_user_id=user.id,
        actor_label=user.email,
        target_type="invitation",
        target_id=invitation.id,
    )
    await session.flush()
    return invitation, user

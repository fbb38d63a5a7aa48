"""Logging in and staying logged in: password login, token pairs, refresh rotation, logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import NotFound, RateLimited, Unauthenticated
from auterity.core.ids import new_id
from auterity.core.request_context import current_client
from auterity.core.tenancy import UNSCOPED_KEY
from auterity.identity import audit
from auterity.identity.accounts import find_user, memberships_of, normalise_email
from auterity.identity.context import IdentityContext
from auterity.identity.models import Membership, RefreshToken, Tenant, User
from auterity.identity.passwords import hash_password, needs_rehash, verify_password
from auterity.identity.throttle import ACCOUNT_LIMIT, ADDRESS_LIMIT
from auterity.identity.tokens import REFRESH_TTL, new_refresh_token

INVALID_LOGIN = "Invalid email or password."


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int


async def resolve_tenant(session: AsyncSession, user: User, requested: str | None) -> Tenant:
    memberships = await memberships_of(session, user.id)
    if not memberships:
        raise Unauthenticated(INVALID_LOGIN)
    if requested is None:
        return memberships[0][1]
    for _, tenant in memberships:
        if requested in (str(tenant.id), tenant.slug):
            return tenant
    raise NotFound(f"You are not a member of a tenant {requested!r}.")


async def issue_pair(
    identity: IdentityContext,
    session: AsyncSession,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    amr: list[str],
    family_id: uuid.UUID | None = None,
    auth_time: datetime | None = None,
) -> TokenPair:
    """Tokens for a new login (no `family_id`: authenticated now) or the next link of one."""
    if family_id is None and auth_time is None:
        auth_time = utcnow()
    await identity.ensure_keys()
    access, expires_in = identity.tokens.issue(user_id, tenant_id, amr=amr, auth_time=auth_time)
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            tenant_id=tenant_id,
            user_id=user_id,
            family_id=family_id or new_id(),
            amr=amr,
            auth_time=auth_time,
            token_hash=identity.runtime.hasher.digest(refresh),
            expires_at=utcnow() + REFRESH_TTL,
        )
    )
    await session.flush()
    return TokenPair(access, refresh, expires_in)


async def _throttle_check(identity: IdentityContext, email: str) -> list[str]:
    keys = [f"account:{email}"]
    ip = current_client().ip
    if ip:
        keys.append(f"ip:{ip}")
    waits = [await identity.throttle.locked_for(key) for key in keys]
    if max(waits) > 0:
        retry = int(max(waits)) + 1
        raise RateLimited(
            f"Too many failed logins; try again in {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )
    return keys


async def login(
    identity: IdentityContext, session: AsyncSession, email: str, password: str, tenant: str | None
) -> TokenPair | MfaChallenge:
    email = normalise_email(email)
    keys = await _throttle_check(identity, email)
    # Check the password before the request's unit of work takes the write lock: the failure
    # path writes counters and audit in transactions of their own, which must survive the 401
    # and, on SQLite, cannot start while this request holds the single writer lock.
    async with identity.runtime.db.session(readonly=True) as reader:
        found = await find_user(reader, email)
    # verify_password costs one argon2 verification even when the user does not exist.
    ok = verify_password(password, found.password_hash if found else None)
    if not ok or found is None or not found.is_active:
        user = found
        for key in keys:
            await identity.throttle.fail(
                key, ACCOUNT_LIMIT if key.startswith("account:") else ADDRESS_LIMIT
            )
        await audit.record_now(
            identity.runtime.db,
            "auth.login",
            "failure",
            tenant_id=None,
            actor_user_id=user.id if user else None,
            actor_label=email,
            details={"reason": "bad_credentials" if user else "unknown_user"},
        )
        raise Unauthenticated(INVALID_LOGIN)
    await identity.throttle.reset(keys[0])
    user = await session.get(User, found.id)
    if user is None:
        raise Unauthenticated(INVALID_LOGIN)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    chosen = await resolve_tenant(session, user, tenant)
    if user.mfa_enabled:
        await identity.ensure_keys()
        token, expires_in = identity.tokens.issue(user.id, chosen.id, amr=["pwd"], purpose="mfa")
        audit.record(
            session,
            "auth.login",
            "mfa_required",
            tenant_id=chosen.id,
            actor_user_id=user.id,
            actor_label=email,
        )
        return MfaChallenge(token, expires_in)
    user.last_login_at = utcnow()
    audit.record(
        session, "auth.login", tenant_id=chosen.id, actor_user_id=user.id, actor_label=email
    )
    return await issue_pair(identity, session, user.id, chosen.id, ["pwd"])


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(**{UNSCOPED_KEY: True})
    )


async def refresh(identity: IdentityContext, session: AsyncSession, token: str) -> TokenPair:
    # Read first outside the request's write transaction: the reuse path revokes in its own.
    async with identity.runtime.db.session(readonly=True) as reader:
        found = await reader.execute(
            select(RefreshToken).where(
                RefreshToken.token_hash.in_(identity.runtime.hasher.candidates(token))
            )
        )
        row = found.scalar_one_or_none()
    if row is None:
        raise Unauthenticated("The refresh token is not valid.")
    if row.revoked_at is not None:
        raise Unauthenticated("The refresh token has been revoked; log in again.")
    if row.used_at is not None:
        # A used token presented again: it was stolen or replayed. Kill the whole family.
        async with identity.runtime.db.session() as own:
            await _revoke_family(own, row.family_id)
            audit.record(
                own,
                "auth.refresh_token_reuse",
                "denied",
                tenant_id=row.tenant_id,
                actor_user_id=row.user_id,
                target_type="token_family",
                target_id=row.family_id,
            )
        raise Unauthenticated(
            "The refresh token was already used; all sessions from it are revoked."
        )
    if row.expires_at <= utcnow():
        raise Unauthenticated("The refresh token has expired; log in again.")
    member = await session.execute(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.user_id == row.user_id, Membership.tenant_id == row.tenant_id, User.is_active
        )
    )
    if member.first() is None:
        raise Unauthenticated("The account is no longer active in this tenant.")
    # Atomic claim: of two concurrent refreshes with one token, only one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        raise Unauthenticated("The refresh token was already used.")
    return await issue_pair(
        identity, session, row.user_id, row.tenant_id, list(row.amr), row.family_id, row.auth_time
    )


async def logout(
    identity: IdentityContext, session: AsyncSession, token: str, user_id: uuid.UUID
) -> None:
    found = await session.execute(
        select(RefreshToken).where(
            RefreshToken.token_hash.in_(identity.runtime.hasher.candidates(token)),
            RefreshToken.user_id == user_id,
        )
    )
    row = found.scalar_one_or_none()
    if row is not None:
        await _revoke_family(session, row.family_id)
        audit.record(
            session,
            "auth.logout",
            tenant_id=row.tenant_id,
            actor_user_id=user_id,
            target_type="token_family",
            target_id=row.family_id,
        )

"""The SSO login flow: send the browser to the provider, then turn its answer into our tokens.

No database transaction stays open while we wait on the provider: the pending login is
written before the redirect, consumed (committed, single use) before the code is redeemed,
and the account work happens in a last short transaction. Every refusal is audited as
`sso.login` with its reason, in its own transaction, since the request's work rolls back.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update

from auterity.core.clock import utcnow
from auterity.core.errors import (
    AuterityError,
    BadRequest,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from auterity.core.outbound import platform_policy
from auterity.core.runtime import Runtime
from auterity.identity import audit
from auterity.identity.context import IdentityContext
from auterity.identity.models import Tenant
from auterity.identity.principal import membership_cache_key
from auterity.identity.sessions import TokenPair, issue_pair
from auterity.identity.sso import oidc
from auterity.identity.sso.discovery import ProviderDirectory
from auterity.identity.sso.models import SsoLoginState, SsoProvider
from auterity.identity.sso.oidc import LoginRefused, LoginSecrets, RelyingParty
from auterity.identity.sso.provisioning import provision

LOGIN_TTL = timedelta(minutes=10)
# Expired logins are kept this long so a late callback is told "expired", not "unknown".
EXPIRED_RETENTION = timedelta(hours=1)
UNKNOWN_LOGIN = "This sign-in is unknown, was already used, or has expired; start again."
# RFC 8176 values meaning the provider checked more than one factor.
MULTI_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "sms", "swk"})


def provider_directory(runtime: Runtime) -> ProviderDirectory:
    return ProviderDirectory(
        runtime.cache,
        platform_policy(runtime.settings),
        allow_loopback_http=runtime.settings.environment != "production",
    )


def relying_party(runtime: Runtime, provider: SsoProvider, redirect_uri: str) -> RelyingParty:
    secret = provider.client_secret_sealed
    return RelyingParty(
        client_id=provider.client_id,
        client_secret=runtime.sealer.open_text(secret) if secret else None,
        redirect_uri=redirect_uri,
        scopes=tuple(provider.scopes),
    )


async def start_login(
    runtime: Runtime,
    tenant_slug: str,
    provider_slug: str,
    redirect_uri: str,
    login_hint: str | None = None,
) -> tuple[str, str]:
    """The provider URL to send the browser to, and the state to bind to that browser."""
    async with runtime.db.session(readonly=True) as session:
        provider = (
            await session.execute(
                select(SsoProvider)
                .join(Tenant, Tenant.id == SsoProvider.tenant_id)
                .where(
                    Tenant.slug == tenant_slug,
                    SsoProvider.slug == provider_slug,
                    SsoProvider.enabled,
                )
            )
        ).scalar_one_or_none()
    if provider is None:
        raise NotFound(f"No enabled sign-in provider {provider_slug!r} for tenant {tenant_slug!r}.")
    metadata = await provider_directory(runtime).metadata(provider.issuer, provider.discovery_url)
    login = LoginSecrets.generate()
    now = utcnow()
    async with runtime.db.session() as session:
        await session.execute(
            delete(SsoLoginState).where(SsoLoginState.expires_at < now - EXPIRED_RETENTION)
        )
        session.add(
            SsoLoginState(
                tenant_id=provider.tenant_id,
                provider_id=provider.id,
                state_hash=runtime.hasher.digest(login.state),
                nonce_sealed=runtime.sealer.seal(login.nonce),
                code_verifier_sealed=runtime.sealer.seal(login.code_verifier),
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=now + LOGIN_TTL,
            )
        )
    party = relying_party(runtime, provider, redirect_uri)
    return oidc.authorization_url(metadata, party, login, login_hint), login.state


@dataclass(frozen=True)
class Callback:
    """What the provider sent back through the browser."""

    state: str | None
    code: str | None
    iss: str | None
    error: str | None
    # The state this browser was given when it started (from its cookie).
    bound_state: str | None


async def finish_login(identity: IdentityContext, callback: Callback) -> TokenPair:
    """Check the provider's answer, provision the person and issue our token pair."""
    runtime = identity.runtime
    context: dict[str, Any] = {"target_type": "sso_provider"}
    try:
        pending, provider = await _pending_login(runtime, callback.state)
        context.update(tenant_id=provider.tenant_id, target_id=provider.id)
        return await _finish(identity, callback, pending, provider, context)
    except LoginRefused as refused:
        await _audit_failure(runtime, context, {"reason": refused.reason, **refused.details})
        raise refused.error from None
    except AuterityError as error:
        await _audit_failure(runtime, context, {"reason": error.slug})
        raise


async def _audit_failure(
    runtime: Runtime, context: dict[str, Any], details: dict[str, str]
) -> None:
    await audit.record_now(runtime.db, "sso.login", "failure", **context, details=details)


async def _pending_login(runtime: Runtime, state: str | None) -> tuple[SsoLoginState, SsoProvider]:
    if not state:
        raise LoginRefused("no_state", BadRequest(UNKNOWN_LOGIN))
    async with runtime.db.session(readonly=True) as session:
        found = await session.execute(
            select(SsoLoginState, SsoProvider)
            .join(SsoProvider, SsoProvider.id == SsoLoginState.provider_id)
            .where(SsoLoginState.state_hash == runtime.hasher.digest(state))
        )
        row = found.tuples().one_or_none()
    if row is None:
        raise LoginRefused("unknown_state", BadRequest(UNKNOWN_LOGIN))
    return row


async def _consume(runtime: Runtime, pending: SsoLoginState) -> None:
    """Mark the login used, committed at once: a failure later still spends it."""
    async with runtime.db.session() as session:
        claimed = await session.execute(
            update(SsoLoginState)
            .where(SsoLoginState.id == pending.id, SsoLoginState.used_at.is_(None))
            .values(used_at=utcnow())
        )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        raise LoginRefused("state_reused", BadRequest(UNKNOWN_LOGIN))


async def _finish(
    identity: IdentityContext,
    callback: Callback,
    pending: SsoLoginState,
    provider: SsoProvider,
    context: dict[str, Any],
) -> TokenPair:
    runtime = identity.runtime
    # A state from another browser is a forged or stolen callback: refuse it without spending
    # the login, so the person who started it can still finish.
    if callback.bound_state is None or not hmac.compare_digest(
        callback.bound_state.encode(), (callback.state or "").encode()
    ):
        raise LoginRefused(
            "browser_mismatch",
            BadRequest("This sign-in was started in another browser; start again here."),
        )
    await _consume(runtime, pending)
    if pending.expires_at <= utcnow():
        raise LoginRefused("state_expired", BadRequest(UNKNOWN_LOGIN))
    if not provider.enabled:
        raise LoginRefused(
            "provider_disabled", PermissionDenied("This sign-in provider is disabled.")
        )
    if callback.error:
        # The provider's own words are not echoed back: they may carry what we must not show.
        raise LoginRefused(
            "provider_error",
            Unauthenticated("The identity provider did not sign you in."),
            {"error": callback.error[:64]},
        )
    if not callback.code:
        raise LoginRefused("no_code", BadRequest("The sign-in response carries no code."))
    directory = provider_directory(runtime)
    metadata = await directory.metadata(provider.issuer, provider.discovery_url)
    # RFC 9207: the answer must come from the provider the login was sent to (mix-up defence).
    if callback.iss != metadata.issuer and (callback.iss or metadata.iss_parameter_supported):
        raise LoginRefused(
            "issuer_mismatch",
            Unauthenticated("The sign-in response comes from another identity provider."),
        )
    login = await oidc.complete_login(
        directory,
        metadata,
        relying_party(runtime, provider, pending.redirect_uri),
        code=callback.code,
        code_verifier=runtime.sealer.open_text(pending.code_verifier_sealed),
        nonce=runtime.sealer.open_text(pending.nonce_sealed),
    )
    email = login.claims.get("email")
    context["actor_label"] = email if isinstance(email, str) else None
    async with runtime.db.session() as session:
        result = await provision(session, provider, login)
        context.update(actor_user_id=result.user.id, actor_label=result.user.email)
        audit.record(
            session,
            "sso.login",
            **context,
            details={
                "provider": provider.slug,
                "subject": login.subject,
                "role": result.role,
                "user_created": result.user_created,
                "joined": result.joined,
            },
        )
        amr = ["sso"]
        provider_amr = login.claims.get("amr")
        if isinstance(provider_amr, list) and MULTI_FACTOR_AMR & set(map(str, provider_amr)):
            amr.append("mfa")
        pair = await issue_pair(identity, session, result.user.id, provider.tenant_id, amr)
    if result.previous_role not in (None, result.role):
        await runtime.cache.invalidate(membership_cache_key(result.user.id, provider.tenant_id))
    return pair

"""SAML login for one tenant's provider: start it (AuthnRequest) and finish it (the ACS).

Finishing checks the response (signature with the IdP certificate, audience, destination,
validity window), that its InResponseTo is a request we issued, and that its assertion was
never used before; then provisions the person and issues our own token pair.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import BadRequest, NotFound
from auterity.core.tenancy import bind_tenant
from auterity.identity import audit, sessions
from auterity.identity.context import IdentityContext
from auterity.identity.models import Tenant
from auterity.identity.saml import protocol, providers
from auterity.identity.saml.authn_requests import is_our_request, new_request_id
from auterity.identity.saml.models import SamlConsumedAssertion, SamlProvider
from auterity.identity.saml.provisioning import check_domain, email_of, provision, role_for
from auterity.identity.saml.refusal import LoginRefused, not_accepted

# python3-saml tolerates this much clock skew, so a consumed id is remembered that much longer.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class SamlLogin:
    tokens: sessions.TokenPair
    relay_state: str | None


def _not_found(tenant_slug: str, name: str) -> NotFound:
    # One answer for "no such tenant", "no such provider" and "disabled": nothing to probe.
    return NotFound(f"Tenant {tenant_slug!r} has no enabled SAML identity provider {name!r}.")


async def find_provider(
    session: AsyncSession, tenant_slug: str, name: str, *, enabled_only: bool
) -> tuple[Tenant, SamlProvider]:
    """The tenant and its provider, by the names in the URL; binds `session` to the tenant."""
    found = await session.execute(
        select(Tenant, SamlProvider)
        .join(SamlProvider, SamlProvider.tenant_id == Tenant.id)
        .where(Tenant.slug == tenant_slug, SamlProvider.name == name)
    )
    row = found.tuples().one_or_none()
    if row is None or (enabled_only and not row[1].enabled):
        raise _not_found(tenant_slug, name)
    bind_tenant(session, row[0].id)
    return row


async def start(
    identity: IdentityContext,
    session: AsyncSession,
    base_url: str,
    tenant_slug: str,
    name: str,
    relay_state: str | None,
) -> str:
    """The IdP URL to redirect the browser to."""
    tenant, provider = await find_provider(session, tenant_slug, name, enabled_only=True)
    request_id = new_request_id(identity.runtime.hasher, provider.id)
    return protocol.login_redirect_url(
        providers.service_provider(base_url, tenant, provider),
        providers.identity_provider(provider),
        request_id,
        relay_state,
    )


async def _consume_assertion(
    session: AsyncSession, provider: SamlProvider, assertion: protocol.Assertion
) -> None:
    """Remember the assertion id until it expires; a second use is a replay."""
    seen = await session.execute(
        select(SamlConsumedAssertion.id).where(
            SamlConsumedAssertion.provider_id == provider.id,
            SamlConsumedAssertion.assertion_id == assertion.assertion_id,
        )
    )
    if seen.first() is not None:
        raise not_accepted("replayed", f"assertion {assertion.assertion_id} was already used")
    await session.execute(
        delete(SamlConsumedAssertion).where(SamlConsumedAssertion.expires_at < utcnow())
    )
    session.add(
        SamlConsumedAssertion(
            tenant_id=provider.tenant_id,
            provider_id=provider.id,
            assertion_id=assertion.assertion_id,
            expires_at=assertion.expires_at + CLOCK_SKEW,
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent request consumed it between our check and our insert.
        raise not_accepted("replayed", "assertion consumed concurrently") from None


async def finish(
    identity: IdentityContext,
    session: AsyncSession,
    base_url: str,
    tenant_slug: str,
    name: str,
    saml_response: str | None,
    relay_state: str | None,
) -> SamlLogin:
    """Check a posted response and log its subject in; raises `LoginRefused` on any failure."""
    try:
        tenant, provider = await find_provider(session, tenant_slug, name, enabled_only=False)
    except NotFound as exc:
        raise LoginRefused("unknown_provider", exc) from None
    # Read now: after a failed flush the session expires its objects and cannot reload them.
    tenant_id = tenant.id
    try:
        if not provider.enabled:
            raise LoginRefused("provider_disabled", _not_found(tenant_slug, name))
        return await _finish(
            identity, session, base_url, tenant, provider, saml_response, relay_state
        )
    except LoginRefused as refused:
        refused.tenant_id = tenant_id
        raise


async def _finish(
    identity: IdentityContext,
    session: AsyncSession,
    base_url: str,
    tenant: Tenant,
    provider: SamlProvider,
    saml_response: str | None,
    relay_state: str | None,
) -> SamlLogin:
    if not saml_response:
        raise LoginRefused(
            "missing_response", BadRequest("Post the IdP's answer as the SAMLResponse form field.")
        )
    sp = providers.service_provider(base_url, tenant, provider)
    try:
        assertion = await asyncio.to_thread(
            protocol.validate_response, sp, providers.identity_provider(provider), saml_response
        )
    except protocol.ResponseRejected as exc:
        raise not_accepted(exc.reason, exc.message) from None
    if assertion.in_response_to is not None and not is_our_request(
        identity.runtime.hasher, provider.id, assertion.in_response_to
    ):
        raise not_accepted("unknown_request", "InResponseTo is not a live request of this provider")
    await _consume_assertion(session, provider, assertion)
    email = email_of(provider, assertion)
    try:
        check_domain(provider, email)
        role = role_for(provider, assertion.attributes)
        provisioned = await provision(identity, session, provider, email, role)
    except LoginRefused as refused:
        refused.email = email
        raise
    audit.record(
        session,
        "saml.login",
        tenant_id=tenant.id,
        actor_user_id=provisioned.user.id,
        actor_label=email,
        target_type="saml_provider",
        target_id=provider.id,
        details={
            "provider": provider.name,
            "role": provisioned.role,
            "user_created": provisioned.user_created,
            "assertion_id": assertion.assertion_id,
        },
    )
    pair = await sessions.issue_pair(identity, session, provisioned.user.id, tenant.id, ["saml"])
    return SamlLogin(pair, relay_state)

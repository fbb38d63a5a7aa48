"""SAML routes under `/api/auth/saml`: provider administration, SP metadata, login and the ACS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from auterity.core.deps import SettingsDep
from auterity.core.request_context import current_request_id
from auterity.core.settings import Settings
from auterity.identity import audit
from auterity.identity.deps import IdentityDep, TenantSession, require
from auterity.identity.models import Tenant
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.identity.saml import login, protocol, providers
from auterity.identity.saml.models import SamlProvider
from auterity.identity.saml.refusal import LoginRefused
from auterity.identity.saml.schemas import (
    SamlLoginResponse,
    SamlProviderCreate,
    SamlProviderOut,
    SamlProviderUpdate,
)

admin = APIRouter(prefix=f"{protocol.SAML_PATH}/providers", tags=["saml"])
public = APIRouter(prefix=protocol.SAML_PATH, tags=["saml"])

TenantAdmin = Annotated[Principal, require(Permission.TENANT_ADMIN)]
NO_STORE = {"Cache-Control": "no-store"}
MAX_RELAY_STATE = 1024


def _base_url(request: Request, settings: Settings) -> str:
    """Where IdPs reach us; set AUTERITY_PUBLIC_URL behind a proxy so the entity id is stable."""
    return settings.public_url or str(request.base_url)


def _allow_loopback_http(settings: Settings) -> bool:
    """An IdP on the developer's machine may use http; never in production."""
    return settings.environment != "production"


async def _out(
    session: TenantSession, request: Request, settings: Settings, provider: SamlProvider
) -> SamlProviderOut:
    tenant = await session.get(Tenant, provider.tenant_id)
    assert tenant is not None
    sp = providers.service_provider(_base_url(request, settings), tenant, provider)
    return SamlProviderOut(
        **{
            field: getattr(provider, field)
            for field in SamlProviderOut.model_fields
            if hasattr(SamlProvider, field)
        },
        idp_cert_expires_at=providers.load_certificate(provider.idp_x509_cert).not_valid_after_utc,
        sp_entity_id=sp.entity_id,
        acs_url=sp.acs_url,
        metadata_url=sp.entity_id,
        login_url=sp.login_url,
    )


@admin.post("", status_code=201, response_model=SamlProviderOut)
async def create_provider(
    body: SamlProviderCreate,
    principal: TenantAdmin,
    session: TenantSession,
    request: Request,
    settings: SettingsDep,
) -> SamlProviderOut:
    """Trust an identity provider; give it the returned `sp_entity_id` and `acs_url`."""
    provider = await providers.create_provider(
        session,
        principal.tenant_id,
        principal.role,
        body.model_dump(),
        allow_loopback_http=_allow_loopback_http(settings),
    )
    audit.record(
        session, "saml_provider.created", **principal.audit_actor(), target_type="saml_provider",
        target_id=provider.id, details={"name": provider.name},
    )  # fmt: skip
    return await _out(session, request, settings, provider)


@admin.get("", response_model=list[SamlProviderOut])
async def list_providers(
    principal: TenantAdmin, session: TenantSession, request: Request, settings: SettingsDep
) -> list[SamlProviderOut]:
    rows = (await session.execute(select(SamlProvider).order_by(SamlProvider.name))).scalars()
    return [await _out(session, request, settings, row) for row in rows]


@admin.get("/{name}", response_model=SamlProviderOut)
async def get_provider(
    name: str,
    principal: TenantAdmin,
    session: TenantSession,
    request: Request,
    settings: SettingsDep,
) -> SamlProviderOut:
    return await _out(session, request, settings, await providers.get_provider(session, name))


@admin.patch("/{name}", response_model=SamlProviderOut)
async def update_provider(
    name: str,
    body: SamlProviderUpdate,
    principal: TenantAdmin,
    session: TenantSession,
    request: Request,
    settings: SettingsDep,
) -> SamlProviderOut:
    """Change the fields given; the name, and so every SAML URL, stays."""
    provider = await providers.get_provider(session, name)
    changes = await providers.update_provider(
        session,
        provider,
        principal.role,
        body.model_dump(exclude_unset=True),
        allow_loopback_http=_allow_loopback_http(settings),
    )
    audit.record(
        session, "saml_provider.updated", **principal.audit_actor(), target_type="saml_provider",
        target_id=provider.id, details={"name": name, "fields": sorted(changes)},
    )  # fmt: skip
    return await _out(session, request, settings, provider)


@admin.delete("/{name}", status_code=204)
async def delete_provider(name: str, principal: TenantAdmin, session: TenantSession) -> Response:
    provider = await providers.get_provider(session, name)
    await session.delete(provider)
    audit.record(
        session, "saml_provider.deleted", **principal.audit_actor(), target_type="saml_provider",
        target_id=provider.id, details={"name": name},
    )  # fmt: skip
    return Response(status_code=204)


@public.get(
    "/{tenant_slug}/{name}/metadata",
    response_class=Response,
    responses={200: {"content": {protocol.METADATA_CONTENT_TYPE: {}}}},
)
async def metadata(
    tenant_slug: str, name: str, request: Request, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """The SP metadata to import into the IdP (also the SP entity id)."""
    async with identity.runtime.db.session(readonly=True) as session:
        tenant, provider = await login.find_provider(session, tenant_slug, name, enabled_only=False)
    xml = protocol.metadata_xml(
        providers.service_provider(_base_url(request, settings), tenant, provider),
        providers.identity_provider(provider),
    )
    return Response(xml, media_type=protocol.METADATA_CONTENT_TYPE)


@public.get("/{tenant_slug}/{name}/login", status_code=302, response_class=RedirectResponse)
async def start_login(
    tenant_slug: str,
    name: str,
    request: Request,
    identity: IdentityDep,
    settings: SettingsDep,
    relay_state: Annotated[str | None, Query(max_length=MAX_RELAY_STATE)] = None,
) -> RedirectResponse:
    """Send the browser to the IdP with an AuthnRequest; `relay_state` comes back from the ACS."""
    async with identity.runtime.db.session(readonly=True) as session:
        url = await login.start(
            identity, session, _base_url(request, settings), tenant_slug, name, relay_state
        )
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


async def _form_field(request: Request, field: str) -> str | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    value = (await request.form()).get(field)
    return value if isinstance(value, str) else None


@public.post("/{tenant_slug}/{name}/acs", response_model=SamlLoginResponse)
async def assertion_consumer(
    tenant_slug: str,
    name: str,
    request: Request,
    response: Response,
    identity: IdentityDep,
    settings: SettingsDep,
) -> SamlLoginResponse:
    """The IdP posts its `SAMLResponse` here (HTTP-POST binding); answers our token pair."""
    saml_response = await _form_field(request, "SAMLResponse")
    relay_state = await _form_field(request, "RelayState")
    if relay_state is not None and len(relay_state) > MAX_RELAY_STATE:
        relay_state = None
    try:
        # Our own unit of work, so it has rolled back (and released SQLite's write lock)
        # before the failure is audited in a transaction of its own.
        async with identity.runtime.db.session() as session:
            result = await login.finish(
                identity, session, _base_url(request, settings), tenant_slug, name,
                saml_response, relay_state,
            )  # fmt: skip
    except LoginRefused as refused:
        await audit.record_now(
            identity.runtime.db,
            "saml.login",
            "failure",
            tenant_id=refused.tenant_id,
            actor_label=refused.email,
            details={
                "provider": name,
                "reason": refused.reason,
                "message": refused.message[:500],
                "request_id": current_request_id(),
            },
        )
        raise refused.error from None
    response.headers.update(NO_STORE)
    tokens = result.tokens
    return SamlLoginResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        relay_state=result.relay_state,
    )

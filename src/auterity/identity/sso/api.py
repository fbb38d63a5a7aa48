"""SSO routes under `/api/auth/sso`: provider administration, login redirect and callback."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from auterity.core.deps import RuntimeDep
from auterity.core.runtime import Runtime
from auterity.identity import audit
from auterity.identity.deps import IdentityDep, TenantSession, require
from auterity.identity.models import Tenant
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.identity.schemas import TokenResponse
from auterity.identity.sso import providers, service
from auterity.identity.sso.models import SsoProvider
from auterity.identity.sso.schemas import SsoProviderCreate, SsoProviderOut, SsoProviderUpdate

admin = APIRouter(prefix="/api/auth/sso/providers", tags=["sso"])
flow = APIRouter(prefix="/api/auth/sso", tags=["sso"])

TenantAdmin = Annotated[Principal, require(Permission.TENANT_ADMIN)]
STATE_COOKIE = "auterity_sso_state"
CALLBACK_PATH = "/api/auth/sso/callback"
# Tokens and one-time redirects must not be kept by browsers or proxies (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def callback_url(request: Request, runtime: Runtime) -> str:
    """The one redirect URI every provider is registered with."""
    if runtime.settings.public_url:
        return runtime.settings.public_url.rstrip("/") + CALLBACK_PATH
    return str(request.url_for("sso_callback"))


async def _out(
    request: Request, runtime: Runtime, session: TenantSession, row: SsoProvider
) -> SsoProviderOut:
    slug = (
        await session.execute(select(Tenant.slug).where(Tenant.id == row.tenant_id))
    ).scalar_one()
    return SsoProviderOut(
        **{
            name: getattr(row, name)
            for name in SsoProviderOut.model_fields
            if name not in ("has_client_secret", "login_url", "callback_url")
        },
        has_client_secret=row.client_secret_sealed is not None,
        login_url=f"/api/auth/sso/{slug}/{row.slug}/login",
        callback_url=callback_url(request, runtime),
    )


@admin.get("", response_model=list[SsoProviderOut])
async def list_sso_providers(
    request: Request, principal: TenantAdmin, session: TenantSession, runtime: RuntimeDep
) -> list[SsoProviderOut]:
    """This tenant's sign-in providers (client secrets are never shown)."""
    return [
        await _out(request, runtime, session, row)
        for row in await providers.list_providers(session)
    ]


@admin.post("", status_code=201, response_model=SsoProviderOut)
async def create_sso_provider(
    body: SsoProviderCreate,
    request: Request,
    principal: TenantAdmin,
    session: TenantSession,
    runtime: RuntimeDep,
) -> SsoProviderOut:
    """Add an OpenID Connect provider; register `callback_url` as its redirect URI."""
    row = await providers.create_provider(session, runtime, principal.tenant_id, body)
    audit.record(
        session,
        "sso_provider.created",
        **principal.audit_actor(),
        target_type="sso_provider",
        target_id=row.id,
        details={"slug": row.slug, "issuer": row.issuer},
    )
    return await _out(request, runtime, session, row)


@admin.get("/{provider_id}", response_model=SsoProviderOut)
async def get_sso_provider(
    provider_id: uuid.UUID,
    request: Request,
    principal: TenantAdmin,
    session: TenantSession,
    runtime: RuntimeDep,
) -> SsoProviderOut:
    row = await providers.get_provider(session, provider_id)
    return await _out(request, runtime, session, row)


@admin.patch("/{provider_id}", response_model=SsoProviderOut)
async def update_sso_provider(
    provider_id: uuid.UUID,
    body: SsoProviderUpdate,
    request: Request,
    principal: TenantAdmin,
    session: TenantSession,
    runtime: RuntimeDep,
) -> SsoProviderOut:
    """Change some settings; `client_secret: null` removes the secret."""
    row = await providers.get_provider(session, provider_id)
    changed = await providers.update_provider(session, runtime, row, body)
    audit.record(
        session,
        "sso_provider.updated",
        **principal.audit_actor(),
        target_type="sso_provider",
        target_id=row.id,
        details={"fields": changed},
    )
    return await _out(request, runtime, session, row)


@admin.delete("/{provider_id}", status_code=204)
async def delete_sso_provider(
    provider_id: uuid.UUID, principal: TenantAdmin, session: TenantSession
) -> Response:
    """Remove a provider; its people keep their accounts (and other ways to log in)."""
    row = await providers.get_provider(session, provider_id)
    await session.delete(row)
    audit.record(
        session,
        "sso_provider.deleted",
        **principal.audit_actor(),
        target_type="sso_provider",
        target_id=row.id,
        details={"slug": row.slug},
    )
    return Response(status_code=204)


@flow.get("/callback", name="sso_callback", response_model=TokenResponse)
async def sso_callback(
    request: Request,
    identity: IdentityDep,
    state: str | None = Query(default=None, max_length=200),
    code: str | None = Query(default=None, max_length=2000),
    iss: str | None = Query(default=None, max_length=500),
    error: str | None = Query(default=None, max_length=200),
) -> JSONResponse:
    """Where the provider sends the browser back: answers our access and refresh tokens."""
    pair = await service.finish_login(
        identity,
        service.Callback(
            state=state,
            code=code,
            iss=iss,
            error=error,
            bound_state=request.cookies.get(STATE_COOKIE),
        ),
    )
    body = TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
    )
    response = JSONResponse(body.model_dump(), headers=NO_STORE)
    response.delete_cookie(
        STATE_COOKIE, path=urlsplit(callback_url(request, identity.runtime)).path
    )
    return response


@flow.get("/{tenant_slug}/{provider_slug}/login", status_code=302)
async def sso_login(
    tenant_slug: str,
    provider_slug: str,
    request: Request,
    runtime: RuntimeDep,
    login_hint: str | None = Query(default=None, max_length=320),
) -> RedirectResponse:
    """Start signing in: redirects to the tenant's identity provider."""
    redirect_uri = callback_url(request, runtime)
    url, state = await service.start_login(
        runtime, tenant_slug, provider_slug, redirect_uri, login_hint
    )
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    # Binds the login to this browser (RFC 6749 §10.12): a callback carrying a state this
    # browser was not given is refused. Lax, because the provider's redirect back is a
    # top-level cross-site navigation; only sent to the callback path.
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(service.LOGIN_TTL.total_seconds()),
        path=urlsplit(redirect_uri).path,
        secure=redirect_uri.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


routers = (admin, flow)

"""FastAPI dependencies: the principal, permission checks and the tenant-scoped session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from auterity.core.deps import runtime_of
from auterity.core.errors import PermissionDenied, Unauthenticated
from auterity.core.tenancy import bind_tenant
from auterity.identity.context import IdentityContext
from auterity.identity.principal import Principal, authenticate

# Shows an "Authorize" button in /docs that logs in with email + password.
bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
# Routes a user may reach while the tenant's MFA policy still awaits their enrolment.
MFA_ENROLMENT_PATHS = ("/api/auth/me", "/api/auth/mfa", "/api/auth/logout")


async def get_identity(request: Request) -> IdentityContext:
    identity: IdentityContext = request.app.state.identity
    return identity


async def get_principal(
    request: Request,
    token: Annotated[str | None, Depends(bearer)],
    identity: Annotated[IdentityContext, Depends(get_identity)],
) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    return await resolve_principal(request, token, identity)


async def resolve_principal(
    request: HTTPConnection, token: str | None, identity: IdentityContext
) -> Principal:
    """Authenticate and apply the tenant's policies; for HTTP requests and WebSockets alike."""
    if not token:
        token = request.headers.get("x-api-key")
    if not token:
        raise Unauthenticated("Send a bearer token or an API key in the Authorization header.")
    principal = await authenticate(identity, token)
    path = request.url.path
    if principal.mfa_enrolment_required and not path.startswith(MFA_ENROLMENT_PATHS):
        raise PermissionDenied(
            "Your tenant requires multi-factor authentication: enrol at /api/auth/mfa/enrol, "
            "then log in again."
        )
    # Zero trust: authenticated is not yet allowed; the tenant's access policies decide.
    cert_header = identity.runtime.settings.client_cert_header
    facts = identity.policies.facts(
        principal,
        path=path,
        method=request.scope.get("method", "GET"),
        ip=request.client.host if request.client else None,
        cert_header=request.headers.get(cert_header) if cert_header else None,
        step_up_exempt=path.startswith(MFA_ENROLMENT_PATHS),
    )
    await identity.policies.enforce(principal, facts)
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id),
        user_id=str(principal.user_id) if principal.user_id else None,
        api_key_id=str(principal.api_key_id) if principal.api_key_id else None,
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*permissions: str) -> Any:
    """`Annotated[Principal, require(Permission.X)]`: the principal, holding `permissions`."""

    async def check(principal: CurrentPrincipal) -> Principal:
        principal.require(*permissions)
        return principal

    return Depends(check)


async def get_tenant_session(
    request: Request, principal: CurrentPrincipal
) -> AsyncIterator[AsyncSession]:
    """The request's unit of work, scoped to the principal's tenant."""
    async with runtime_of(request).db.session() as session:
        bind_tenant(session, principal.tenant_id)
        yield session


TenantSession = Annotated[AsyncSession, Depends(get_tenant_session)]
IdentityDep = Annotated[IdentityContext, Depends(get_identity)]

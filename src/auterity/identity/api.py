"""Authentication routes under `/api/auth`: sign-up, tokens, refresh, logout, MFA, invitations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from auterity.core.deps import SessionDep, SettingsDep
from auterity.core.errors import (
    BadRequest,
    FieldError,
    NotFound,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from auterity.core.problems import pointer_for
from auterity.identity import accounts, audit, mfa, sessions
from auterity.identity.deps import CurrentPrincipal, IdentityDep, TenantSession, require
from auterity.identity.models import Tenant, User
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.identity.schemas import (
    CodeRequest,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    MembershipOut,
    MeResponse,
    MfaChallengeResponse,
    MfaEnrolment,
    MfaLoginRequest,
    RecoveryCodes,
    RefreshRequest,
    SignupRequest,
    SignupResponse,
    TenantOut,
    TokenRequest,
    TokenResponse,
)
from auterity.identity.tokens import AccessClaims

auth = APIRouter(prefix="/api/auth", tags=["auth"])
wellknown = APIRouter(tags=["auth"])


def _tokens(pair: sessions.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@auth.post("/signup", status_code=201, response_model=SignupResponse)
async def signup(
    body: SignupRequest, session: SessionDep, settings: SettingsDep, identity: IdentityDep
) -> SignupResponse:
    """Create a tenant and its owner, and log the owner in."""
    if not settings.signup_enabled:
        raise PermissionDenied("Self-service sign-up is disabled on this installation.")
    tenant, user = await accounts.create_tenant_with_owner(
        session, email=body.email, password=body.password, tenant_name=body.tenant_name
    )
    pair = await sessions.issue_pair(identity, session, user.id, tenant.id, ["pwd"])
    return SignupResponse(
        user_id=user.id,
        email=user.email,
        tenant=TenantOut.model_validate(tenant),
        tokens=_tokens(pair),
    )


async def _read_credentials(request: Request) -> TokenRequest:
    """JSON `{"email", "password"}` or the OAuth2 password form (`username`, `password`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    data: Any
    if content_type == "application/json":
        try:
            data = await request.json()
        except ValueError as exc:
            raise BadRequest(f"Malformed JSON body: {exc}") from None
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.form()
        data = {"email": form.get("username"), "password": form.get("password")}
        if form.get("tenant"):
            data["tenant"] = form.get("tenant")
    else:
        raise UnsupportedMediaType("Send JSON or an application/x-www-form-urlencoded form.")
    try:
        return TokenRequest.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(pointer_for(e["loc"]), e["msg"]) for e in exc.errors()]
        raise ValidationFailed("The login request is invalid.", errors=errors) from None


@auth.post(
    "/token",
    response_model=TokenResponse | MfaChallengeResponse,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": TokenRequest.model_json_schema()},
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                        },
                        "required": ["username", "password"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def token(
    request: Request, session: SessionDep, identity: IdentityDep
) -> TokenResponse | MfaChallengeResponse:
    """Log in with email and password. With MFA on, answers a challenge for `/api/auth/mfa`."""
    body = await _read_credentials(request)
    result = await sessions.login(identity, session, body.email, body.password, body.tenant)
    if isinstance(result, sessions.MfaChallenge):
        return MfaChallengeResponse(mfa_token=result.mfa_token, expires_in=result.expires_in)
    return _tokens(result)


@auth.post("/mfa", response_model=TokenResponse)
async def mfa_login(
    body: MfaLoginRequest, session: SessionDep, identity: IdentityDep
) -> TokenResponse:
    """Exchange an MFA challenge and a TOTP (or recovery) code for tokens."""
    claims: AccessClaims = identity.tokens.verify(body.mfa_token, purpose="mfa")
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active or not user.mfa_enabled:
        raise NotFound("No MFA login is pending for this token.")
    user_id, email = user.id, user.email
    try:
        method = await mfa.check_second_factor(identity, session, user, body.code)
    except Exception:
        # Release the request's write transaction first: on SQLite the audit write needs the lock.
        await session.rollback()
        await audit.record_now(
            identity.runtime.db,
            "auth.mfa",
            "failure",
            tenant_id=claims.tenant_id,
            actor_user_id=user_id,
            actor_label=email,
        )
        raise
    audit.record(
        session,
        "auth.mfa",
        tenant_id=claims.tenant_id,
        actor_user_id=user.id,
        actor_label=user.email,
        details={"method": method},
    )
    pair = await sessions.issue_pair(identity, session, user.id, claims.tenant_id, ["pwd", "mfa"])
    return _tokens(pair)


@auth.post("/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest, session: SessionDep, identity: IdentityDep
) -> TokenResponse:
    """Rotate a refresh token: the old one stops working, a new pair comes back."""
    return _tokens(await sessions.refresh(identity, session, body.refresh_token))


@auth.post("/logout", status_code=204)
async def logout(
    body: RefreshRequest, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> Response:
    """Revoke the refresh token and every token rotated from the same login."""
    if principal.user_id is not None:
        await sessions.logout(identity, session, body.refresh_token, principal.user_id)
    return Response(status_code=204)


@auth.get("/me", response_model=MeResponse)
async def me(principal: CurrentPrincipal, session: SessionDep) -> MeResponse:
    """Who you are, your tenants and what you may do in the current one."""
    user = await session.get(User, principal.user_id) if principal.user_id else None
    memberships = await accounts.memberships_of(session, user.id) if user else []
    return MeResponse(
        id=principal.user_id,
        email=user.email if user else None,
        kind=principal.kind,
        tenant_id=principal.tenant_id,
        role=principal.role,
        permissions=sorted(principal.permissions),
        mfa_enabled=bool(user and user.mfa_enabled),
        authentication_methods=list(principal.amr),
        tenants=[
            MembershipOut(tenant=TenantOut.model_validate(t), role=m.role) for m, t in memberships
        ],
    )


async def _current_user(principal: Principal, session: SessionDep) -> User:
    if principal.user_id is None:
        raise PermissionDenied("Only a user (not an API key) can manage MFA.")
    user = (await session.execute(select(User).where(User.id == principal.user_id))).scalar_one()
    if user.password_hash is not None and not {"pwd", "mfa"} & set(principal.amr):
        # MFA is account-wide; a tenant's identity provider vouches only within that tenant.
        raise PermissionDenied("Log in with your password to change multi-factor authentication.")
    return user


@auth.post("/mfa/enrol", response_model=MfaEnrolment)
async def mfa_enrol(
    principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> MfaEnrolment:
    """Start TOTP enrolment: scan the QR code, then confirm with a code."""
    user = await _current_user(principal, session)
    secret, uri = mfa.enrol(identity, user)
    return MfaEnrolment(secret=secret, otpauth_uri=uri, qr_png=mfa.qr_png_data_uri(uri))


@auth.post("/mfa/confirm", response_model=RecoveryCodes)
async def mfa_confirm(
    body: CodeRequest, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> RecoveryCodes:
    """Turn MFA on with a first code; answers 10 one-time recovery codes (shown once)."""
    user = await _current_user(principal, session)
    codes = await mfa.confirm(identity, session, user, body.code)
    audit.record(session, "mfa.enabled", **principal.audit_actor())
    return RecoveryCodes(recovery_codes=codes)


@auth.post("/mfa/disable", status_code=204)
async def mfa_disable(
    body: CodeRequest, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> Response:
    """Turn MFA off; needs a current code or a recovery code."""
    user = await _current_user(principal, session)
    await mfa.disable(identity, session, user, body.code)
    return Response(status_code=204)


@auth.post("/invitations", status_code=201, response_model=InvitationCreated)
async def invite(
    body: InvitationCreate,
    principal: Annotated[Principal, require(Permission.MEMBER_ADMIN)],
    session: TenantSession,
    identity: IdentityDep,
) -> InvitationCreated:
    """Invite someone to this tenant; send them the token (shown once)."""
    accounts.check_can_assign(principal.role, body.role)
    invitation, raw = await accounts.create_invitation(
        session,
        identity.runtime.hasher,
        principal.tenant_id,
        body.email,
        body.role,
        principal.user_id,
    )
    audit.record(
        session,
        "invitation.created",
        **principal.audit_actor(),
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email, "role": body.role},
    )
    return InvitationCreated(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        token=raw,
        expires_at=invitation.expires_at,
    )


@auth.post("/invitations/accept", response_model=MembershipOut)
async def accept(
    body: InvitationAccept, session: SessionDep, identity: IdentityDep
) -> MembershipOut:
    """Join the inviting tenant (creating your account if needed); then log in."""
    invitation, _ = await accounts.accept_invitation(
        session, identity.runtime.hasher, body.token, body.password
    )
    tenant = await session.get(Tenant, invitation.tenant_id)
    assert tenant is not None
    return MembershipOut(tenant=TenantOut.model_validate(tenant), role=invitation.role)


@wellknown.get("/.well-known/jwks.json")
async def jwks(identity: IdentityDep) -> dict[str, Any]:
    """Public keys that verify Auterity's access tokens."""
    return identity.keyring.jwks()


def _all_routers() -> tuple[APIRouter, ...]:
    from auterity.identity import api_admin
    from auterity.identity.policies import api as policies_api
    from auterity.identity.saml import api as saml_api
    from auterity.identity.sso import api as sso_api

    return (
        auth,
        wellknown,
        api_admin.keys,
        api_admin.members,
        api_admin.roles,
        api_admin.grants,
        api_admin.audit_log,
        api_admin.tenant,
        *sso_api.routers,
        policies_api.router,
        saml_api.admin,
        saml_api.public,
    )


routers = _all_routers()

"""Tenant administration routes: API keys, members, roles, grants, audit log, tenant settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from auterity.core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from auterity.core.pagination import keyset_page
from auterity.identity import accounts, api_keys, audit, tenant_settings
from auterity.identity.deps import CurrentPrincipal, IdentityDep, TenantSession, require
from auterity.identity.models import (
    ApiKey,
    AuditEvent,
    Membership,
    ResourceGrant,
    Role,
    Tenant,
    User,
)
from auterity.identity.permissions import Permission, unknown_permissions
from auterity.identity.principal import Principal, membership_cache_key
from auterity.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEventOut,
    AuditPage,
    GrantCreate,
    GrantOut,
    MemberOut,
    MemberUpdate,
    RoleCreate,
    RoleOut,
    TenantOut,
    TenantUpdate,
)
from auterity.identity.tenant_settings import TenantSettings, TenantSettingsPatch

keys = APIRouter(prefix="/api/api-keys", tags=["api-keys"])
members = APIRouter(prefix="/api/members", tags=["members"])
roles = APIRouter(prefix="/api/roles", tags=["roles"])
grants = APIRouter(prefix="/api/grants", tags=["grants"])
audit_log = APIRouter(prefix="/api/audit", tags=["audit"])
tenant = APIRouter(prefix="/api/tenant", tags=["tenant"])

MemberAdmin = Annotated[Principal, require(Permission.MEMBER_ADMIN)]


def _key_out(row: ApiKey) -> dict[str, object]:
    return {
        **{c: getattr(row, c) for c in ApiKeyOut.model_fields if c != "masked_key"},
        "masked_key": f"ak_{row.prefix}_{'*' * 8}",
    }


def _only_users(principal: Principal) -> None:
    if principal.user_id is None:
        raise PermissionDenied("API keys cannot manage API keys; log in as a user.")


@keys.post("", status_code=201, response_model=ApiKeyCreated)
async def create_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: TenantSession, identity: IdentityDep
) -> ApiKeyCreated:
    """Create an API key. The full key is in `key`, shown only here."""
    _only_users(principal)
    row, raw = await api_keys.create_api_key(
        identity,
        session,
        principal,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
        allowed_models=body.allowed_models,
        tags=body.tags,
    )
    return ApiKeyCreated(**_key_out(row), key=raw)


def _visible(principal: Principal, row: ApiKey) -> bool:
    return principal.has(Permission.APIKEY_ADMIN) or row.created_by == principal.user_id


@keys.get("", response_model=list[ApiKeyOut])
async def list_keys(principal: CurrentPrincipal, session: TenantSession) -> list[ApiKeyOut]:
    """Keys of this tenant (yours, or all with `apikey:admin`), masked."""
    _only_users(principal)
    return [
        ApiKeyOut(**_key_out(r))
        for r in await api_keys.list_api_keys(session)
        if _visible(principal, r)
    ]


@keys.get("/{key_id}", response_model=ApiKeyOut)
async def get_key(
    key_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> ApiKeyOut:
    _only_users(principal)
    row = await api_keys.get_api_key(session, key_id)
    if not _visible(principal, row):
        raise NotFound(f"API key {key_id} does not exist.")
    return ApiKeyOut(**_key_out(row))


@keys.delete("/{key_id}", status_code=204)
async def revoke_key(
    key_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession, identity: IdentityDep
) -> Response:
    """Revoke a key; it stops working at once on this process and within a minute everywhere."""
    _only_users(principal)
    row = await api_keys.get_api_key(session, key_id)
    if not _visible(principal, row):
        raise NotFound(f"API key {key_id} does not exist.")
    await api_keys.revoke_api_key(identity, session, principal, key_id)
    return Response(status_code=204)


@members.get("", response_model=list[MemberOut])
async def list_members(
    principal: Annotated[Principal, require(Permission.MEMBER_READ)], session: TenantSession
) -> list[MemberOut]:
    rows = await session.execute(
        select(Membership, User.email)
        .join(User, User.id == Membership.user_id)
        .order_by(Membership.created_at)
    )
    return [
        MemberOut(user_id=m.user_id, email=email, role=m.role, created_at=m.created_at)
        for m, email in rows.tuples()
    ]


async def _membership(session: TenantSession, user_id: uuid.UUID) -> Membership:
    row = (
        await session.execute(select(Membership).where(Membership.user_id == user_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"User {user_id} is not a member of this tenant.")
    return row


@members.patch("/{user_id}", response_model=MemberOut)
async def change_role(
    user_id: uuid.UUID,
    body: MemberUpdate,
    principal: MemberAdmin,
    session: TenantSession,
    identity: IdentityDep,
) -> MemberOut:
    """Change a member's role (never above your own; the last owner stays an owner)."""
    row = await _membership(session, user_id)
    await accounts.validate_role(session, principal.tenant_id, body.role)
    accounts.check_can_assign(principal.role, body.role, row.role)
    if (
        row.role == "owner"
        and body.role != "owner"
        and await accounts.count_owners(session, row.tenant_id) <= 1
    ):
        raise Conflict("A tenant keeps at least one owner; make someone else owner first.")
    previous, row.role = row.role, body.role
    audit.record(
        session,
        "member.role_changed",
        **principal.audit_actor(),
        target_type="user",
        target_id=user_id,
        details={"from": previous, "to": body.role},
    )
    await session.flush()
    await identity.runtime.cache.invalidate(membership_cache_key(user_id, row.tenant_id))
    email = (await session.execute(select(User.email).where(User.id == user_id))).scalar_one()
    return MemberOut(user_id=user_id, email=email, role=row.role, created_at=row.created_at)


@members.delete("/{user_id}", status_code=204)
async def remove_member(
    user_id: uuid.UUID, principal: MemberAdmin, session: TenantSession, identity: IdentityDep
) -> Response:
    row = await _membership(session, user_id)
    accounts.check_can_assign(principal.role, row.role)
    if row.role == "owner" and await accounts.count_owners(session, row.tenant_id) <= 1:
        raise Conflict("The last owner cannot be removed.")
    await session.delete(row)
    audit.record(
        session, "member.removed", **principal.audit_actor(), target_type="user", target_id=user_id
    )
    await session.flush()
    await identity.runtime.cache.invalidate(membership_cache_key(user_id, row.tenant_id))
    return Response(status_code=204)


@roles.get("", response_model=list[RoleOut])
async def list_roles(
    principal: Annotated[Principal, require(Permission.MEMBER_READ)], session: TenantSession
) -> list[RoleOut]:
    rows = (await session.execute(select(Role).order_by(Role.name))).scalars()
    return [RoleOut.model_validate(r) for r in rows]


@roles.post("", status_code=201, response_model=RoleOut)
async def create_role(body: RoleCreate, principal: MemberAdmin, session: TenantSession) -> RoleOut:
    """A custom role: a named set of permissions (only ones you hold yourself)."""
    beyond = sorted(
        set(body.permissions)
        - principal.permissions
        - set(unknown_permissions(set(body.permissions)))
    )
    if beyond:
        raise PermissionDenied(
            f"You cannot create a role with permissions you lack: {', '.join(beyond)}."
        )
    role = await accounts.create_role(
        session, principal.tenant_id, body.name, body.permissions, body.description
    )
    audit.record(
        session,
        "role.created",
        **principal.audit_actor(),
        target_type="role",
        target_id=role.id,
        details={"name": role.name, "permissions": role.permissions},
    )
    return RoleOut.model_validate(role)


@roles.delete("/{role_id}", status_code=204)
async def delete_role(
    role_id: uuid.UUID, principal: MemberAdmin, session: TenantSession
) -> Response:
    role = (await session.execute(select(Role).where(Role.id == role_id))).scalar_one_or_none()
    if role is None:
        raise NotFound(f"Role {role_id} does not exist.")
    in_use = await session.execute(select(Membership.id).where(Membership.role == role.name))
    if in_use.first():
        raise Conflict(f"Role {role.name!r} is still assigned; change those members' roles first.")
    await session.delete(role)
    audit.record(
        session, "role.deleted", **principal.audit_actor(), target_type="role", target_id=role_id
    )
    return Response(status_code=204)


@grants.post("", status_code=201, response_model=GrantOut)
async def create_grant(
    body: GrantCreate, principal: MemberAdmin, session: TenantSession
) -> GrantOut:
    """Share one resource with a user or a role, adding permissions on that resource only."""
    errors = []
    if (body.user_id is None) == (body.role is None):
        errors.append(FieldError("/user_id", "give exactly one of user_id or role"))
    unknown = unknown_permissions(set(body.permissions))
    if unknown:
        errors.append(FieldError("/permissions", f"unknown: {', '.join(unknown)}"))
    if errors:
        raise ValidationFailed("The grant is invalid.", errors=errors)
    if body.user_id is not None:
        await _membership(session, body.user_id)
    if body.role is not None:
        await accounts.validate_role(session, principal.tenant_id, body.role)
    grant = ResourceGrant(
        resource_type=body.resource_type,
        resource_id=body.resource_id,
        grantee_user_id=body.user_id,
        grantee_role=body.role,
        permissions=body.permissions,
    )
    session.add(grant)
    await session.flush()
    audit.record(
        session,
        "grant.created",
        **principal.audit_actor(),
        target_type=body.resource_type,
        target_id=body.resource_id,
        details={"permissions": body.permissions},
    )
    return GrantOut.model_validate(grant)


@grants.get("", response_model=list[GrantOut])
async def list_grants(
    principal: Annotated[Principal, require(Permission.MEMBER_READ)],
    session: TenantSession,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> list[GrantOut]:
    query = select(ResourceGrant).order_by(ResourceGrant.created_at)
    if resource_type:
        query = query.where(ResourceGrant.resource_type == resource_type)
    if resource_id:
        query = query.where(ResourceGrant.resource_id == resource_id)
    return [GrantOut.model_validate(g) for g in (await session.execute(query)).scalars()]


@grants.delete("/{grant_id}", status_code=204)
async def delete_grant(
    grant_id: uuid.UUID, principal: MemberAdmin, session: TenantSession
) -> Response:
    grant = (
        await session.execute(select(ResourceGrant).where(ResourceGrant.id == grant_id))
    ).scalar_one_or_none()
    if grant is None:
        raise NotFound(f"Grant {grant_id} does not exist.")
    await session.delete(grant)
    audit.record(
        session, "grant.deleted", **principal.audit_actor(), target_type="grant", target_id=grant_id
    )
    return Response(status_code=204)


@audit_log.get("", response_model=AuditPage)
async def list_audit(
    principal: Annotated[Principal, require(Permission.AUDIT_READ)],
    session: TenantSession,
    action: str | None = None,
    outcome: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """This tenant's audit events, newest first; pass `next_cursor` back as `cursor` for more."""
    # AuditEvent is not TenantScoped (failed logins have no tenant), so scope explicitly.
    query = select(AuditEvent).where(AuditEvent.tenant_id == principal.tenant_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    if actor_user_id:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at < until)
    try:
        after = uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise BadRequest(
            "The cursor is not valid; use the next_cursor of a previous page."
        ) from None
    rows, next_cursor = await keyset_page(session, query, AuditEvent.id, after, limit)
    return AuditPage(items=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@tenant.get("", response_model=TenantOut)
async def get_tenant(principal: CurrentPrincipal, session: TenantSession) -> TenantOut:
    row = await session.get(Tenant, principal.tenant_id)
    assert row is not None
    return TenantOut.model_validate(row)


@tenant.patch("", response_model=TenantOut)
async def update_tenant(
    body: TenantUpdate,
    principal: Annotated[Principal, require(Permission.TENANT_ADMIN)],
    session: TenantSession,
    identity: IdentityDep,
) -> TenantOut:
    """Rename the tenant or set its MFA policy."""
    row = await session.get(Tenant, principal.tenant_id)
    assert row is not None
    changes = body.model_dump(exclude_none=True)
    for field, value in changes.items():
        setattr(row, field, value)
    audit.record(
        session,
        "tenant.updated",
        **principal.audit_actor(),
        target_type="tenant",
        target_id=row.id,
        details=changes,
    )
    if "require_mfa" in changes:
        # Cached memberships carry the policy; drop this process's copies so it applies now.
        identity.runtime.cache.clear_local()
    return TenantOut.model_validate(row)


@tenant.get("/settings", response_model=TenantSettings)
async def get_tenant_settings(
    principal: CurrentPrincipal, session: TenantSession
) -> TenantSettings:
    """The tenant's policy: SSRF exceptions, concurrency caps and the code sandbox."""
    row = await session.get(Tenant, principal.tenant_id)
    assert row is not None
    return tenant_settings.parse(row.settings)


@tenant.patch("/settings", response_model=TenantSettings)
async def update_tenant_settings(
    body: TenantSettingsPatch,
    principal: Annotated[Principal, require(Permission.TENANT_ADMIN)],
    session: TenantSession,
    identity: IdentityDep,
) -> TenantSettings:
    """Replace the sections given; the others keep their values."""
    row = await session.get(Tenant, principal.tenant_id)
    assert row is not None
    current = tenant_settings.parse(row.settings)
    changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    updated = TenantSettings.model_validate({**current.model_dump(mode="json"), **changes})
    row.settings = updated.model_dump(mode="json")
    audit.record(
        session,
        "tenant.settings_updated",
        **principal.audit_actor(),
        target_type="tenant",
        target_id=row.id,
        details=changes,
    )
    # Commit before invalidating, so no process can re-cache the old document in between.
    await session.commit()
    await identity.runtime.cache.invalidate(tenant_settings.cache_key(principal.tenant_id))
    return updated

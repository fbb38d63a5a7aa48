"""Resource-level grants: share one workflow or model with a user or role beyond their role."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.identity.models import ResourceGrant
from auterity.identity.principal import Principal


async def effective_permissions(
    session: AsyncSession, principal: Principal, resource_type: str, resource_id: str
) -> frozenset[str]:
    """The principal's tenant permissions plus whatever grants on this resource add.

    `session` must be bound to the principal's tenant, so grants of other tenants never count.
    """
    if principal.user_id is None:
        return principal.permissions
    grantee = [ResourceGrant.grantee_user_id == principal.user_id]
    if principal.role:
        grantee.append(ResourceGrant.grantee_role == principal.role)
    rows = await session.execute(
        select(ResourceGrant.permissions).where(
            ResourceGrant.resource_type == resource_type,
            ResourceGrant.resource_id == resource_id,
            or_(*grantee),
        )
    )
    extra = {permission for (permissions,) in rows for permission in permissions}
    return principal.permissions | frozenset(extra)


async def can(
    session: AsyncSession,
    principal: Principal,
    permission: str,
    resource_type: str,
    resource_id: str,
) -> bool:
    return permission in await effective_permissions(session, principal, resource_type, resource_id)

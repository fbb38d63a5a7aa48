"""Each tenant's own exceptions to the SSRF guard, read from its settings (cached there)."""

from __future__ import annotations

import uuid

from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.outbound import NetworkPolicy, TenantPolicies
from auterity.identity import tenant_settings


def tenant_policies(db: Database, cache: Cache) -> TenantPolicies:
    """The look-up `OutboundHttp` calls for the tenant a request is made for."""

    async def policy(tenant_id: uuid.UUID) -> NetworkPolicy | None:
        allowed = (await tenant_settings.load(db, cache, tenant_id)).http
        if not allowed.allowed_private_networks and not allowed.allowed_private_hosts:
            return None
        return NetworkPolicy.build(allowed.allowed_private_networks, allowed.allowed_private_hosts)

    return policy

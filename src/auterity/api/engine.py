"""Wires the workflow engine to this process's database, secret store and outbound HTTP."""

from __future__ import annotations

import uuid

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.limits import ConcurrencyLimits
from auterity.core.errors import NotFound
from auterity.core.runtime import Runtime
from auterity.identity import tenant_settings
from auterity.identity.tenant_settings import TenantSettings
from auterity.integrations.http import OutboundHttp, tenant_policies
from auterity.secrets import SecretService


def build_engine(runtime: Runtime, actions: ActionRegistry, secrets: SecretService) -> Engine:
    async def lookup(tenant_id: uuid.UUID, name: str) -> str | None:
        try:
            return await secrets.resolve_secret(tenant_id, name, on_behalf_of="workflow")
        except NotFound:
            return None

    async def policy(tenant_id: uuid.UUID) -> TenantSettings:
        return await tenant_settings.load(runtime.db, runtime.cache, tenant_id)

    settings = runtime.settings
    return Engine(
        runtime.db,
        actions,
        secrets=lookup,
        lease_seconds=settings.engine_lease_seconds,
        poll_interval=settings.engine_poll_seconds,
        inline_output_bytes=settings.step_output_inline_bytes,
        http=OutboundHttp.from_settings(
            settings, tenant_policies=tenant_policies(runtime.db, runtime.cache)
        ),
        limits=ConcurrencyLimits.from_settings(runtime.db, runtime.cache),
        tenant_settings=policy,
    )

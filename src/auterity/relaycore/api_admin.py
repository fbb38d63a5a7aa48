"""Routes under `/api/relay`: routing policies, provider health, and the tenant's catalog layer.

These are platform routes (RFC 9457 problems on error), unlike the `/v1` wire surfaces.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from auterity.core.errors import FieldError, ValidationFailed
from auterity.identity import audit
from auterity.identity.deps import TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.catalog import Catalog, allowed
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.models import RelayTenantCatalog
from auterity.relaycore.routing.router import AUTO, FALLBACK_POLICY

router = APIRouter(prefix="/api/relay", tags=["relay"])
User = Annotated[Principal, require(Permission.RELAY_USE)]
Admin = Annotated[Principal, require(Permission.RELAY_ADMIN)]


async def get_gateway(request: Request) -> RelayGateway:
    gateway: RelayGateway = request.app.state.relay
    return gateway


Gateway = Annotated[RelayGateway, Depends(get_gateway)]


class TenantCatalog(BaseModel):
    """A tenant's layer over the operator's catalog: entries replace by name, field by field;
    `enabled: false` (or null) removes one. Providers a tenant adds take their key from the
    tenant's secret store (`api_key_secret`); the operator's providers cannot be changed."""

    providers: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    aliases: dict[str, Any] = Field(default_factory=dict)
    policies: dict[str, Any] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)


def _policies(catalog: Catalog, principal: Principal) -> dict[str, Any]:
    key_policy = principal.tags.get("relay_policy")
    return {
        "default": key_policy or catalog.defaults.policy or FALLBACK_POLICY,
        "default_source": "api_key" if key_policy else "catalog",
        "auto_model": AUTO,
        "policies": {
            name: policy.model_dump(mode="json", exclude_defaults=True)
            for name, policy in catalog.policies.items()
        },
        "aliases": {
            name: alias.model_dump(mode="json", exclude_defaults=True)
            for name, alias in catalog.aliases.items()
            if allowed(name, principal.allowed_models)
        },
    }


@router.get("/policies")
async def list_policies(principal: User, gateway: Gateway) -> dict[str, Any]:
    """The routing policies and aliases in force for this tenant, and the caller's default."""
    return _policies(await gateway.catalog_for(principal.tenant_id), principal)


@router.get("/providers")
async def list_providers(principal: Admin, gateway: Gateway) -> dict[str, Any]:
    """Each deployment of this tenant's catalog: configured or not, breaker state, latency."""
    catalog = await gateway.catalog_for(principal.tenant_id)
    items = [
        {
            "id": deployment.id,
            "model": deployment.model,
            "provider": deployment.provider,
            "kind": deployment.provider_spec.kind,
            "configured": gateway.usable(deployment),
            "breaker": gateway.breakers.snapshot(deployment.id),
            "latency": gateway.latency.snapshot(deployment.id),
        }
        for deployment in catalog.all_deployments.values()
    ]
    return {"items": items}


@router.get("/catalog")
async def read_catalog(principal: User, gateway: Gateway) -> dict[str, Any]:
    """The tenant's own layer and the merged catalog (models with prices per 1M tokens)."""
    document = await gateway.tenant_document(principal.tenant_id)
    catalog = await gateway.catalog_for(principal.tenant_id)
    models = {
        name: model.model_dump(mode="json", exclude_defaults=True)
        for name, model in catalog.models.items()
        if allowed(name, principal.allowed_models)
    }
    return {"tenant": document, "models": models, "defaults": catalog.defaults.model_dump()}


@router.put("/catalog")
async def write_catalog(
    body: TenantCatalog, principal: Admin, gateway: Gateway, session: TenantSession
) -> dict[str, Any]:
    """Replace the tenant's catalog layer (checked against the operator's catalog first)."""
    document = body.model_dump(exclude_defaults=True)
    clashes = sorted(set(document.get("providers", {})) & gateway.trusted_providers)
    if clashes:
        raise ValidationFailed(
            "The operator's providers cannot be changed by a tenant.",
            errors=[
                FieldError(f"/providers/{name}", "defined by the operator") for name in clashes
            ],
        )
    for name, provider in document.get("providers", {}).items():
        if isinstance(provider, dict) and provider.get("kind") == "local":
            raise ValidationFailed(
                "A tenant cannot add local providers.",
                errors=[
                    FieldError(f"/providers/{name}/kind", "use openai, anthropic or compatible")
                ],
            )
    gateway.merged_catalog(document)  # raises ValidationFailed naming each problem
    row = (await session.execute(select(RelayTenantCatalog))).scalar_one_or_none()
    if row is None:
        session.add(RelayTenantCatalog(tenant_id=principal.tenant_id, document=document))
    else:
        row.document = document
    audit.record(
        session,
        "relay.catalog.updated",
        **principal.audit_actor(),
        target_type="relay_catalog",
        target_id=str(principal.tenant_id),
        details={section: sorted(entries) for section, entries in document.items()},
    )
    # Committed before the caches are told, so no process reloads the old layer after.
    await session.commit()
    await gateway.forget_tenant_catalog(principal.tenant_id)
    return {"tenant": document}

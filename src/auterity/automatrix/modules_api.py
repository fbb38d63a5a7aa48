"""`POST /api/python-modules`: deploy trusted SDK code (runs in-process on every worker)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field

from auterity.automatrix import python_modules
from auterity.core.errors import PermissionDenied
from auterity.core.schemas import StrictModel
from auterity.core.settings import Settings
from auterity.identity import audit
from auterity.identity.deps import TenantSession, require
from auterity.identity.models import Tenant
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal

router = APIRouter(prefix="/api/python-modules", tags=["workflows"])
TenantAdmin = Annotated[Principal, require(Permission.TENANT_ADMIN)]


class ModuleIn(StrictModel):
    name: str = Field(description="The module's name (its file name without .py).")
    source: str = Field(description="The module's Python source.")


class ModuleOut(StrictModel):
    ref: str = Field(description="`name@digest`: what its workflows' `python.step`s import.")
    name: str


@router.post("", response_model=ModuleOut, status_code=201)
async def deploy_module(
    body: ModuleIn, request: Request, principal: TenantAdmin, session: TenantSession
) -> ModuleOut:
    """Store a module of `@step`/`@workflow` code. It runs unsandboxed inside the platform's
    processes, so the operator must list the tenant in `AUTERITY_SDK_TRUSTED_TENANTS`."""
    settings: Settings = request.app.state.runtime.settings
    tenant = await session.get(Tenant, principal.tenant_id)
    assert tenant is not None
    trusted = set(settings.sdk_trusted_tenants)
    if not trusted & {str(tenant.id), tenant.slug}:
        raise PermissionDenied(
            "deployed Python runs in-process without a sandbox; the operator has not trusted "
            "this tenant with it (AUTERITY_SDK_TRUSTED_TENANTS). Use code.python steps instead."
        )
    ref = await python_modules.deploy(
        session, principal.tenant_id, body.name, body.source, principal.label
    )
    audit.record(
        session,
        "python_module.deployed",
        **principal.audit_actor(),
        target_type="python_module",
        details={"ref": ref},
    )
    await session.commit()
    return ModuleOut(ref=ref, name=body.name)

"""Routes under `/api/auth/policies`: manage a tenant's access policies and dry-run them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from auterity.identity.deps import MFA_ENROLMENT_PATHS, IdentityDep, TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.policies import service
from auterity.identity.policies.evaluation import RequestFacts
from auterity.identity.policies.schemas import (
    EvaluationRequest,
    EvaluationResult,
    PolicyCreate,
    PolicyOut,
    PolicyRef,
    PolicyUpdate,
)
from auterity.identity.principal import Principal

router = APIRouter(prefix="/api/auth/policies", tags=["access policies"])
PolicyAdmin = Annotated[Principal, require(Permission.POLICY_ADMIN)]
Force = Annotated[
    bool,
    Query(description="Save even if the change would deny you access to the policies API."),
]


def _acting(request: Request, identity: IdentityDep, principal: Principal) -> RequestFacts:
    """The facts of the request being served, as the live check saw them."""
    header = identity.runtime.settings.client_cert_header
    return identity.policies.facts(
        principal,
        path=request.url.path,
        method=request.method,
        ip=request.client.host if request.client else None,
        cert_header=request.headers.get(header) if header else None,
    )


@router.get("", response_model=list[PolicyOut])
async def list_policies(principal: PolicyAdmin, session: TenantSession) -> list[PolicyOut]:
    """This tenant's policies in evaluation order (highest priority first)."""
    return [PolicyOut.model_validate(r) for r in await service.list_policies(session)]


@router.post("", status_code=201, response_model=PolicyOut)
async def create_policy(
    body: PolicyCreate,
    request: Request,
    principal: PolicyAdmin,
    session: TenantSession,
    identity: IdentityDep,
    force: Force = False,
) -> PolicyOut:
    """Add a policy. It applies to every request of this tenant from the next one on."""
    row = await service.create_policy(
        identity,
        session,
        principal,
        body,
        acting=_acting(request, identity, principal),
        force=force,
    )
    return PolicyOut.model_validate(row)


@router.post("/evaluate", response_model=EvaluationResult)
async def evaluate_policies(
    body: EvaluationRequest,
    request: Request,
    principal: PolicyAdmin,
    session: TenantSession,
    identity: IdentityDep,
) -> EvaluationResult:
    """Dry run: what the enabled policies would decide for a principal, path, address and time."""
    decision = await service.dry_run(
        identity,
        session,
        principal,
        body,
        acting=_acting(request, identity, principal),
        step_up_exempt=body.path.startswith(MFA_ENROLMENT_PATHS),
    )
    return EvaluationResult(
        effect=decision.effect,
        mfa_required=decision.effect == "require_mfa",
        policy=PolicyRef(id=decision.rule.id, name=decision.rule.name) if decision.rule else None,
        reason=decision.reason,
    )


@router.get("/{policy_id}", response_model=PolicyOut)
async def get_policy(
    policy_id: uuid.UUID, principal: PolicyAdmin, session: TenantSession
) -> PolicyOut:
    return PolicyOut.model_validate(await service.get_policy(session, policy_id))


@router.patch("/{policy_id}", response_model=PolicyOut)
async def update_policy(
    policy_id: uuid.UUID,
    body: PolicyUpdate,
    request: Request,
    principal: PolicyAdmin,
    session: TenantSession,
    identity: IdentityDep,
    force: Force = False,
) -> PolicyOut:
    """Change a policy; `conditions`, when given, replaces the whole set."""
    row = await service.update_policy(
        identity,
        session,
        principal,
        policy_id,
        body,
        acting=_acting(request, identity, principal),
        force=force,
    )
    return PolicyOut.model_validate(row)


@router.delete("/{policy_id}", status_code=204)
async def delete_policy(
    policy_id: uuid.UUID, principal: PolicyAdmin, session: TenantSession, identity: IdentityDep
) -> Response:
    await service.delete_policy(identity, session, principal, policy_id)
    return Response(status_code=204)

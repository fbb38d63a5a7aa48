"""Managing a tenant's policies (no HTTP): validate, store, audit, drop the cache, dry-run."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import Conflict, FieldError, ValidationFailed
from auterity.core.lookup import one_or_404
from auterity.identity import audit
from auterity.identity.context import IdentityContext
from auterity.identity.models import ApiKey, Membership, Role
from auterity.identity.permissions import BUILTIN_ROLES
from auterity.identity.policies.conditions import Effect, PolicyConditions, RateThreshold
from auterity.identity.policies.enforcement import (
    evaluation_order,
    policy_cache_key,
    policy_row,
)
from auterity.identity.policies.evaluation import Decision, RequestFacts, Rule, evaluate
from auterity.identity.policies.models import AccessPolicy
from auterity.identity.policies.schemas import EvaluationRequest, PolicyCreate, PolicyUpdate
from auterity.identity.principal import Principal

# What an administrator needs to reach to repair a policy mistake.
POLICY_ADMIN_PATH = "/api/auth/policies"


async def list_policies(session: AsyncSession) -> list[AccessPolicy]:
    rows = list((await session.execute(select(AccessPolicy))).scalars())
    order = [r["id"] for r in evaluation_order([policy_row(r) for r in rows])]
    by_id = {str(r.id): r for r in rows}
    return [by_id[i] for i in order]


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> AccessPolicy:
    return await one_or_404(
        session,
        select(AccessPolicy).where(AccessPolicy.id == policy_id),
        f"Access policy {policy_id} does not exist.",
    )


async def create_policy(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    body: PolicyCreate,
    *,
    acting: RequestFacts,
    force: bool = False,
) -> AccessPolicy:
    await _validate(identity, session, principal, body.effect, body.conditions)
    await _unique_name(session, body.name)
    row = AccessPolicy(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        priority=body.priority,
        enabled=body.enabled,
        effect=body.effect,
        conditions=_stored(body.conditions),
    )
    session.add(row)
    await session.flush()
    if not force:
        await _guard_lockout(session, acting)
    audit.record(
        session,
        "policy.created",
        **principal.audit_actor(),
        target_type="access_policy",
        target_id=row.id,
        details={"name": row.name, "effect": row.effect, "conditions": row.conditions},
    )
    await _commit(identity, session, principal.tenant_id)
    return row


async def update_policy(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    policy_id: uuid.UUID,
    body: PolicyUpdate,
    *,
    acting: RequestFacts,
    force: bool = False,
) -> AccessPolicy:
    row = await get_policy(session, policy_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "priority", "enabled", "effect", "conditions"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(
                f"{field} cannot be null.", errors=[FieldError(f"/{field}", "must not be null")]
            )
    effect: Effect = body.effect or row.effect  # type: ignore[assignment]
    conditions = body.conditions or PolicyConditions.model_validate(row.conditions)
    await _validate(identity, session, principal, effect, conditions)
    if body.name is not None and body.name != row.name:
        await _unique_name(session, body.name)
    for field, value in changes.items():
        setattr(row, field, _stored(conditions) if field == "conditions" else value)
    await session.flush()
    if not force:
        await _guard_lockout(session, acting)
    audit.record(
        session,
        "policy.updated",
        **principal.audit_actor(),
        target_type="access_policy",
        target_id=row.id,
        details={"name": row.name, "changes": _stored_changes(changes, conditions)},
    )
    await _commit(identity, session, principal.tenant_id)
    return row


async def delete_policy(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    policy_id: uuid.UUID,
) -> None:
    # Deleting never locks anyone out: fewer rules can only allow more.
    row = await get_policy(session, policy_id)
    await session.delete(row)
    audit.record(
        session,
        "policy.deleted",
        **principal.audit_actor(),
        target_type="access_policy",
        target_id=policy_id,
        details={"name": row.name},
    )
    await _commit(identity, session, principal.tenant_id)


async def dry_run(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    body: EvaluationRequest,
    *,
    acting: RequestFacts,
    step_up_exempt: bool = False,
) -> Decision:
    """What the tenant's enabled policies would decide for the request described by `body`.

    Rate conditions are looked at, not counted: a dry run never adds to anyone's rate.
    """
    if body.user_id is not None and body.api_key_id is not None:
        raise ValidationFailed(
            "Ask about a user or an API key, not both.",
            errors=[FieldError("/api_key_id", "give user_id or api_key_id, not both")],
        )
    at = body.at or acting.now
    facts = replace(
        acting,
        path=body.path,
        method=body.method,
        ip=str(body.ip) if body.ip is not None else acting.ip,
        now=at,
        client_cert=body.client_cert_fingerprint,
        step_up_exempt=step_up_exempt,
    )
    if body.user_id is not None:
        facts = replace(
            facts,
            principal_kind="user",
            user_id=body.user_id,
            api_key_id=None,
            role=await _member_role(session, body.user_id),
            amr=("pwd",),
            auth_time=None,
        )
    elif body.api_key_id is not None:
        await _tenant_key(session, body.api_key_id)
        facts = replace(
            facts,
            principal_kind="api_key",
            user_id=None,
            api_key_id=body.api_key_id,
            role=None,
            amr=(),
            auth_time=None,
        )
    if body.mfa_age_seconds is not None:
        facts = replace(
            facts,
            amr=(*[m for m in facts.amr if m != "mfa"], "mfa"),
            auth_time=at - timedelta(seconds=body.mfa_age_seconds),
        )
    return await identity.policies.decide(principal.tenant_id, facts, count=False)


async def _validate(
    identity: IdentityContext,
    session: AsyncSession,
    principal: Principal,
    effect: Effect,
    conditions: PolicyConditions,
) -> None:
    """Checks that need more than one field, or the tenant, each with the pointer to fix."""
    errors: list[FieldError] = []
    if conditions.mfa_max_age_seconds is not None and effect != "require_mfa":
        errors.append(
            FieldError(
                "/conditions/mfa_max_age_seconds",
                "only applies to effect require_mfa",
                hint="set effect to require_mfa, or remove mfa_max_age_seconds",
            )
        )
    if conditions.user_ids is not None and conditions.api_key_ids is not None:
        errors.append(
            FieldError(
                "/conditions/api_key_ids",
                "a request comes from a user or an API key, never both, so this never matches",
                hint="split it into one policy for users and one for API keys",
            )
        )
    if conditions.uses_client_certificates() and not identity.runtime.settings.client_cert_header:
        pointer = (
            "/conditions/client_cert_fingerprints"
            if conditions.client_cert_fingerprints
            else "/conditions/not_client_cert_fingerprints"
        )
        errors.append(
            FieldError(
                pointer,
                "no client certificate header is configured, so no request carries one",
                hint="set AUTERITY_CLIENT_CERT_HEADER to the header your mTLS proxy fills",
            )
        )
    for index, role in enumerate(conditions.roles or ()):
        if role not in BUILTIN_ROLES and not await _custom_role_exists(session, role):
            errors.append(
                FieldError(
                    f"/conditions/roles/{index}",
                    f"no role named {role!r} in this tenant",
                    hint=f"built-in roles: {', '.join(BUILTIN_ROLES)}",
                )
            )
    if errors:
        summary = "; ".join(f"{e.pointer}: {e.message}" for e in errors)
        raise ValidationFailed(f"The policy is invalid: {summary}", errors=errors)


async def _custom_role_exists(session: AsyncSession, name: str) -> bool:
    found = await session.execute(select(Role.id).where(Role.name == name))
    return found.first() is not None


async def _unique_name(session: AsyncSession, name: str) -> None:
    found = await session.execute(select(AccessPolicy.id).where(AccessPolicy.name == name))
    if found.first() is not None:
        raise Conflict(f"An access policy named {name!r} already exists; choose another name.")


async def _member_role(session: AsyncSession, user_id: uuid.UUID) -> str:
    role = (
        await session.execute(select(Membership.role).where(Membership.user_id == user_id))
    ).scalar_one_or_none()
    if role is None:
        raise ValidationFailed(
            f"User {user_id} is not a member of this tenant.",
            errors=[FieldError("/user_id", "not a member of this tenant")],
        )
    return role


async def _tenant_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    found = await session.execute(select(ApiKey.id).where(ApiKey.id == key_id))
    if found.first() is None:
        raise ValidationFailed(
            f"API key {key_id} does not exist in this tenant.",
            errors=[FieldError("/api_key_id", "no such API key in this tenant")],
        )


async def _guard_lockout(session: AsyncSession, acting: RequestFacts) -> None:
    """Refuse a change after which its author could no longer read or change policies."""
    rows = (
        await session.execute(select(AccessPolicy).where(AccessPolicy.enabled.is_(True)))
    ).scalars()
    rules = [Rule.compile(r) for r in evaluation_order([policy_row(r) for r in rows])]
    for method in ("GET", "PATCH"):
        facts = replace(acting, path=POLICY_ADMIN_PATH, method=method)
        decision = await evaluate(rules, facts, _never_over)
        if decision.effect == "deny":
            assert decision.rule is not None
            raise Conflict(
                f"After this change, policy {decision.rule.name!r} would deny you {method} "
                f"{POLICY_ADMIN_PATH} ({decision.reason}), so you could not undo it. "
                "Adjust the policy, or repeat the request with ?force=true.",
                extra={"policy": {"id": str(decision.rule.id), "name": decision.rule.name}},
            )


async def _never_over(rule: Rule, threshold: RateThreshold, facts: RequestFacts) -> bool:
    # A rate rule only bites while the rate lasts, so it cannot lock anyone out for good.
    return False


async def _commit(identity: IdentityContext, session: AsyncSession, tenant_id: uuid.UUID) -> None:
    # Commit before dropping the cache, so no request can re-cache the old policies.
    await session.commit()
    await identity.runtime.cache.invalidate(policy_cache_key(tenant_id))


def _stored(conditions: PolicyConditions) -> dict[str, Any]:
    return conditions.model_dump(mode="json", exclude_none=True)


def _stored_changes(changes: dict[str, Any], conditions: PolicyConditions) -> dict[str, Any]:
    return {k: (_stored(conditions) if k == "conditions" else v) for k, v in changes.items()}

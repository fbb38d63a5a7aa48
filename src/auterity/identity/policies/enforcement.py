"""Enforcing policies on live requests: load (cached), decide, count, audit, refuse.

Called once per authenticated request from the principal dependency. A tenant's enabled
policies are cached (and dropped on every change, on every process through the cache's
invalidation channel); compiled rules are kept per (id, updated_at). Refusals are audited
as `policy.denied`, at most once a minute per policy and principal so that a flood of
refused requests cannot flood the audit log.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache, TTLCache
from sqlalchemy import select

from auterity.core.clock import utcnow
from auterity.core.errors import PermissionDenied, ServiceUnavailable, StepUpRequired
from auterity.core.logging import get_logger
from auterity.core.metrics import counter
from auterity.core.ratelimit import Quota
from auterity.core.runtime import Runtime
from auterity.identity import audit
from auterity.identity.policies.conditions import RateThreshold, fingerprint
from auterity.identity.policies.evaluation import Decision, RequestFacts, Rule, evaluate
from auterity.identity.policies.models import AccessPolicy

if TYPE_CHECKING:
    from auterity.identity.principal import Principal

log = get_logger(__name__)
POLICY_TTL = 60.0
AUDIT_EVERY_SECONDS = 60.0
DECISIONS = counter("access_policy_decisions", "Requests decided by an access policy", ("effect",))


def policy_cache_key(tenant_id: uuid.UUID) -> str:
    return f"policies:{tenant_id}"


def policy_row(row: AccessPolicy) -> dict[str, Any]:
    """The cached, JSON-safe form of a policy."""
    return {
        "id": str(row.id),
        "name": row.name,
        "priority": row.priority,
        "effect": row.effect,
        "conditions": row.conditions,
        "updated_at": row.updated_at.isoformat(),
    }


def evaluation_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest priority first; ties by name, then id, so the order never depends on storage."""
    return sorted(rows, key=lambda r: (-r["priority"], r["name"], r["id"]))


def client_fingerprint(header_value: str | None) -> str | None:
    """The fingerprint from the proxy's header: bare hex, colon-separated, or Envoy's XFCC."""
    if not header_value:
        return None
    value = header_value
    for part in header_value.split(";"):
        name, _, found = part.strip().partition("=")
        if name.lower() == "hash":
            value = found.strip('"')
            break
    try:
        return fingerprint(value)
    except ValueError:
        return None


class PolicyEnforcer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._compiled: LRUCache[tuple[str, str], Rule] = LRUCache(maxsize=4096)
        self._audited: TTLCache[tuple[str, str, str], bool] = TTLCache(
            maxsize=10_000, ttl=AUDIT_EVERY_SECONDS
        )

    async def rules_for(self, tenant_id: uuid.UUID) -> list[Rule]:
        """The tenant's enabled policies in evaluation order."""

        async def load() -> list[dict[str, Any]]:
            async with self.runtime.db.session(readonly=True) as session:
                rows = await session.execute(
                    select(AccessPolicy).where(
                        AccessPolicy.tenant_id == tenant_id, AccessPolicy.enabled.is_(True)
                    )
                )
                return evaluation_order([policy_row(r) for r in rows.scalars()])

        rows: list[dict[str, Any]] = await self.runtime.cache.get_or_load(
            policy_cache_key(tenant_id), load, POLICY_TTL
        )
        return [self._compile(row) for row in rows]

    def _compile(self, row: dict[str, Any]) -> Rule:
        key = (row["id"], row["updated_at"])
        rule = self._compiled.get(key)
        if rule is None:
            rule = self._compiled[key] = Rule.compile(row)
        return rule

    def facts(
        self,
        principal: Principal,
        *,
        path: str,
        method: str,
        ip: str | None,
        cert_header: str | None,
        step_up_exempt: bool = False,
    ) -> RequestFacts:
        return RequestFacts(
            principal_kind=principal.kind,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            role=principal.role,
            amr=principal.amr,
            auth_time=principal.auth_time,
            path=path,
            method=method,
            ip=ip,
            now=utcnow(),
            client_cert=client_fingerprint(cert_header),
            step_up_exempt=step_up_exempt,
        )

    async def decide(
        self, tenant_id: uuid.UUID, facts: RequestFacts, *, count: bool = True
    ) -> Decision:
        """The decision for `facts`; with `count=False` (dry runs) no request is counted."""
        rules = await self.rules_for(tenant_id)
        return await evaluate(rules, facts, self._over_rate if count else self._would_be_over)

    async def enforce(self, principal: Principal, facts: RequestFacts) -> Decision:
        """Decide the request; raise PermissionDenied or StepUpRequired when it may not go on."""
        decision = await self.decide(principal.tenant_id, facts)
        if decision.rule is None:
            return decision
        DECISIONS.labels(decision.effect).inc()
        if decision.allowed:
            return decision
        await self._audit(principal, facts, decision)
        raise refusal(decision)

    async def _over_rate(self, rule: Rule, threshold: RateThreshold, facts: RequestFacts) -> bool:
        try:
            usage = await self.runtime.rate_limiter.hit(
                _quota(rule, threshold), facts.principal_key
            )
        except ServiceUnavailable as exc:
            # A counter outage must not refuse every request: the anomaly is simply not seen.
            log.warning("policy_rate_store_unavailable", policy=str(rule.id), error=str(exc))
            return False
        return not usage.allowed

    async def _would_be_over(
        self, rule: Rule, threshold: RateThreshold, facts: RequestFacts
    ) -> bool:
        try:
            usage = await self.runtime.rate_limiter.peek(
                _quota(rule, threshold), facts.principal_key
            )
        except ServiceUnavailable:
            return False
        return not usage.allowed

    async def _audit(self, principal: Principal, facts: RequestFacts, decision: Decision) -> None:
        assert decision.rule is not None
        key = (str(decision.rule.id), facts.principal_key, decision.effect)
        if key in self._audited:
            return
        self._audited[key] = True
        await audit.record_now(
            self.runtime.db,
            "policy.denied",
            "denied",
            **principal.audit_actor(),
            target_type="access_policy",
            target_id=decision.rule.id,
            details={
                "policy": decision.rule.name,
                "effect": decision.effect,
                "reason": decision.reason,
                "method": facts.method,
                "path": facts.path,
            },
        )


def _quota(rule: Rule, threshold: RateThreshold) -> Quota:
    return Quota(f"policy:{rule.id}", threshold.requests, threshold.per_seconds)


def refusal(decision: Decision) -> PermissionDenied:
    """The error a refused request answers with; it names the policy, not its conditions."""
    assert decision.rule is not None
    policy = {"id": str(decision.rule.id), "name": decision.rule.name}
    if decision.effect == "require_mfa":
        max_age = decision.mfa_max_age_seconds
        challenge = (
            'Bearer realm="auterity", error="insufficient_user_authentication", '
            'error_description="A multi-factor authentication is required", acr_values="mfa"'
        )
        extra: dict[str, Any] = {"mfa_required": True, "policy": policy}
        if max_age is not None:
            challenge += f", max_age={max_age}"
            extra["max_age"] = max_age
        return StepUpRequired(
            f"Access policy {decision.rule.name!r} requires a recent multi-factor "
            "authentication: log in again with your second factor (POST /api/auth/token, "
            "then /api/auth/mfa) and retry.",
            headers={"WWW-Authenticate": challenge},
            extra=extra,
        )
    return PermissionDenied(
        f"Access policy {decision.rule.name!r} denies this request.", extra={"policy": policy}
    )

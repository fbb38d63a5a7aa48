"""Gateway rate limits: requests and tokens per minute, per API key and per tenant.

Counting is core's `RateLimiter` (GCRA; Redis when configured, memory otherwise); this
module picks the quotas from the tenant's settings (`relay` section), counts a request
against all of them at once (all or nothing, one round trip), and turns the result into
OpenAI's `x-ratelimit-*` headers or a 429 error.
Tokens are charged at admission by the caller's estimate (prompt plus maximum output), as
OpenAI does, so a request never runs on tokens it might not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.errors import RateLimited
from auterity.core.metrics import counter
from auterity.core.ratelimit import Charge, Quota, RateLimiter, Usage
from auterity.identity import tenant_settings
from auterity.identity.tenant_settings import RateLimits
from auterity.relaycore.payer import Payer

WINDOW_SECONDS = 60
Kind = Literal["requests", "tokens"]
REFUSED = counter(
    "relay_rate_limited_requests_total", "Gateway requests refused by a rate limit", ("limit",)
)


@dataclass(frozen=True, slots=True)
class Standing:
    """The tightest of the key's and the tenant's counters for one kind (requests or tokens)."""

    kind: Kind
    usage: Usage

    @property
    def reset(self) -> str:
        return duration(self.usage.reset_after)


@dataclass(frozen=True, slots=True)
class Admission:
    """Where the request left its limits: the values of the `x-ratelimit-*` headers."""

    requests: Standing | None = None
    tokens: Standing | None = None

    def headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for standing in (self.requests, self.tokens):
            if standing is not None:
                suffix = standing.kind
                found[f"x-ratelimit-limit-{suffix}"] = str(standing.usage.quota.limit)
                found[f"x-ratelimit-remaining-{suffix}"] = str(standing.usage.remaining)
                found[f"x-ratelimit-reset-{suffix}"] = standing.reset
        return found


class RelayRateLimited(RateLimited):
    """A gateway rate limit refused the request (429, with `Retry-After` and `x-ratelimit-*`).

    The slug makes the `/v1` surface's error body carry OpenAI's `rate_limit_exceeded` code.
    """

    slug = "rate-limit-exceeded"

    def __init__(self, refused: Standing, admission: Admission, scope: str) -> None:
        retry = max(1, refused.usage.retry_after)
        self.kind = refused.kind
        self.scope = scope
        unit = "requests" if refused.kind == "requests" else "tokens"
        abbreviation = "RPM" if refused.kind == "requests" else "TPM"
        super().__init__(
            f"Rate limit reached for this {scope} on {unit} per min ({abbreviation}): "
            f"Limit {refused.usage.quota.limit}. Please try again in {retry}s.",
            headers={**admission.headers(), "Retry-After": str(retry)},
            extra={"limit": refused.kind, "scope": scope},
        )


def duration(seconds: int) -> str:
    """Seconds as OpenAI writes reset times: `45s`, `6m0s`, `1h2m3s`."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _tighter(current: Standing | None, candidate: Standing) -> Standing:
    if current is None or candidate.usage.remaining < current.usage.remaining:
        return candidate
    return current


class RelayRateLimits:
    def __init__(self, limiter: RateLimiter, db: Database, cache: Cache) -> None:
        self.limiter = limiter
        self.db = db
        self.cache = cache

    async def limits(self, payer: Payer) -> tuple[RateLimits, RateLimits]:
        """(the key's limits, the tenant's limits) from the tenant settings (cached)."""
        policy = (await tenant_settings.load(self.db, self.cache, payer.tenant_id)).relay
        key_limits = policy.key_limits
        if payer.api_key_id is not None:
            key_limits = policy.key_overrides.get(payer.api_key_id, key_limits)
        return key_limits, policy.tenant_limits

    async def admit(self, payer: Payer, estimated_tokens: int) -> Admission:
        """Count one request and `estimated_tokens` against every configured limit.

        All or nothing, in one round trip to the counter store: when a limit refuses, no
        limit counts anything, so a refused request does not eat into the others.
        """
        key_limits, tenant_limits = await self.limits(payer)
        # The hash tag keeps one tenant's counters in one Redis Cluster slot, so the script
        # may touch all of them.
        tenant = f"{{{payer.tenant_id}}}"
        checks: list[tuple[Kind, str, int | None, str]] = []
        if payer.api_key_id is not None:
            key = f"{tenant}:{payer.api_key_id}"
            checks += [
                ("requests", "API key", key_limits.requests_per_minute, key),
                ("tokens", "API key", key_limits.tokens_per_minute, key),
            ]
        checks += [
            ("requests", "tenant", tenant_limits.requests_per_minute, tenant),
            ("tokens", "tenant", tenant_limits.tokens_per_minute, tenant),
        ]
        checks = [check for check in checks if check[2] is not None]
        if not checks:
            return Admission()
        charges = [
            Charge(
                _quota(kind, scope, limit),
                identifier,
                1 if kind == "requests" else max(0, estimated_tokens),
            )
            for kind, scope, limit, identifier in checks
        ]
        usages = await self.limiter.hit_all(charges)
        standings: dict[Kind, Standing | None] = {"requests": None, "tokens": None}
        refused: tuple[Standing, str] | None = None
        for (kind, scope, _, _), usage in zip(checks, usages, strict=True):
            standing = Standing(kind, usage)
            standings[kind] = _tighter(standings[kind], standing)
            # Of several refusals, the one that frees up last: its Retry-After fits them all.
            if not usage.allowed and (
                refused is None or usage.retry_after > refused[0].usage.retry_after
            ):
                refused = (standing, scope)
        admission = Admission(standings["requests"], standings["tokens"])
        if refused is not None:
            REFUSED.labels(refused[0].kind).inc()
            raise RelayRateLimited(refused[0], admission, refused[1])
        return admission


@lru_cache(maxsize=1024)
def _quota(kind: Kind, scope: str, limit: int) -> Quota:
    return Quota(f"relay-{kind}-{'key' if scope == 'API key' else 'tenant'}", limit, WINDOW_SECONDS)

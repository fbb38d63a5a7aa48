"""Per-tenant policy: what a tenant's workflows may reach, how much they may run at once, and
the gateway's rate limits.

Stored as one JSON document on the tenant row, validated by `TenantSettings` on the way in and
on the way out, and cached per process (invalidated across processes through the cache's
pub/sub) because the engine and the HTTP guard read it on every step.
"""

from __future__ import annotations

import uuid
from typing import Any

from cachetools import LRUCache
from pydantic import Field, IPvAnyNetwork

from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.schemas import StrictModel
from auterity.identity.models import Tenant

SETTINGS_TTL = 60.0
# The last parse of each tenant's cached document: the gateway reads settings on every request,
# and validating the same document again each time costs more than the rest of the look-up.
_parsed: LRUCache[uuid.UUID, tuple[dict[str, Any], TenantSettings]] = LRUCache(maxsize=10_000)


class HttpPolicy(StrictModel):
    """Exceptions to the SSRF guard for this tenant's outbound requests."""

    allowed_private_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Private, loopback or link-local networks this tenant may call (CIDR).",
        max_length=100,
    )
    allowed_private_hosts: list[str] = Field(
        default_factory=list,
        description="Host names this tenant may call even when they resolve to a private address.",
        max_length=100,
    )


class EnginePolicy(StrictModel):
    """Concurrency caps for this tenant's runs, on top of the platform-wide caps."""

    max_concurrent_runs: int | None = Field(default=None, ge=1, le=100_000)
    max_concurrent_steps: int | None = Field(default=None, ge=1, le=100_000)


class CodePolicy(StrictModel):
    """What this tenant's sandboxed `code.python` steps may do."""

    allowed_imports: list[str] = Field(
        default_factory=list,
        description="Installed third-party packages the tenant's code may import.",
        max_length=500,
    )
    network: bool = Field(default=False, description="Whether code steps may open sockets.")


class RateLimits(StrictModel):
    """Requests and tokens per minute (None: no limit)."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10_000_000_000)


class RelayPolicy(StrictModel):
    """RelayCore gateway limits: for the whole tenant, for each key, and per-key overrides."""

    tenant_limits: RateLimits = Field(
        default_factory=RateLimits, description="Shared by all of the tenant's API keys."
    )
    key_limits: RateLimits = Field(
        default_factory=RateLimits, description="For each API key without an override."
    )
    key_overrides: dict[uuid.UUID, RateLimits] = Field(
        default_factory=dict,
        description="By API key id; replaces `key_limits` for that key.",
        max_length=1000,
    )
    exact_cache: bool = Field(
        default=False, description="Answer repeated identical requests from the cache, free."
    )
    semantic_cache: bool = Field(
        default=False,
        description="Also answer requests whose prompt means nearly the same as a cached one.",
    )


class TenantSettings(StrictModel):
    http: HttpPolicy = Field(default_factory=HttpPolicy)
    engine: EnginePolicy = Field(default_factory=EnginePolicy)
    code: CodePolicy = Field(default_factory=CodePolicy)
    relay: RelayPolicy = Field(default_factory=RelayPolicy)


class TenantSettingsPatch(StrictModel):
    """A partial update: each section given replaces that section."""

    http: HttpPolicy | None = None
    engine: EnginePolicy | None = None
    code: CodePolicy | None = None
    relay: RelayPolicy | None = None


def cache_key(tenant_id: uuid.UUID) -> str:
    return f"tenant-settings:{tenant_id}"


def parse(document: dict[str, Any] | None) -> TenantSettings:
    return TenantSettings.model_validate(document or {})


async def load(db: Database, cache: Cache, tenant_id: uuid.UUID) -> TenantSettings:
    """The tenant's settings, from the cache or the database (defaults for an unknown tenant)."""

    async def read() -> dict[str, Any]:
        async with db.session(readonly=True) as session:
            row = await session.get(Tenant, tenant_id)
            return dict(row.settings or {}) if row is not None else {}

    document: dict[str, Any] = await cache.get_or_load(cache_key(tenant_id), read, SETTINGS_TTL)
    memo = _parsed.get(tenant_id)
    if memo is not None and memo[0] is document:
        # The cache hands back the same object until it reloads: the parse still holds.
        return memo[1]
    parsed = parse(document)
    _parsed[tenant_id] = (document, parsed)
    return parsed

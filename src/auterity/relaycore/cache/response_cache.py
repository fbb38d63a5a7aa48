"""The gateway's cache stage: exact first, then (when the tenant opts in) semantic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from auterity.core.metrics import counter
from auterity.relaycore.cache.exact import ExactCache
from auterity.relaycore.cache.hit import CacheHit
from auterity.relaycore.cache.semantic import SemanticCache, SemanticProbe

LOOKUPS = counter("relay_cache_lookups_total", "Gateway cache lookups", ("kind", "result"))
RequestKind = Literal["chat", "embeddings"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's outcome, kept to store the answer under the same keys after a miss."""

    hit: CacheHit | None
    exact_key: str
    probe: SemanticProbe | None = None


class ResponseCache:
    def __init__(self, exact: ExactCache, semantic: SemanticCache | None = None) -> None:
        self.exact = exact
        self.semantic = semantic

    async def lookup(
        self,
        tenant_id: uuid.UUID,
        request: dict[str, Any],
        *,
        kind: RequestKind = "chat",
        semantic: bool = False,
    ) -> Lookup:
        key = ExactCache.key(tenant_id, kind, request)
        hit = await self.exact.get(key)
        LOOKUPS.labels("exact", "hit" if hit else "miss").inc()
        if hit is not None or not semantic or self.semantic is None or kind != "chat":
            return Lookup(hit, key)
        probe = await self.semantic.probe(tenant_id, request)
        if probe is None:
            return Lookup(None, key)
        hit = self.semantic.lookup(probe)
        LOOKUPS.labels("semantic", "hit" if hit else "miss").inc()
        return Lookup(hit, key, probe)

    async def store(
        self,
        lookup: Lookup,
        response: dict[str, Any],
        *,
        routed_model: str | None,
        provider: str | None,
    ) -> None:
        """Remember a provider's answer (call only for successful, complete answers)."""
        await self.exact.put(
            lookup.exact_key, response, routed_model=routed_model, provider=provider
        )
        if lookup.probe is not None and self.semantic is not None:
            self.semantic.store(
                lookup.probe, response, routed_model=routed_model, provider=provider
            )

"""Exact response cache: the normalised request's hash, per tenant, with a TTL.

Backed by core's two-level `Cache` (an in-process LRU, plus Redis when configured so every
process shares one cache). Answers larger than `max_entry_bytes` are not cached.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from auterity.core.cache import Cache
from auterity.relaycore.cache.hit import CacheHit, stored
from auterity.relaycore.cache.normalise import fingerprint


class ExactCache:
    def __init__(
        self, cache: Cache, *, ttl_seconds: float = 3600.0, max_entry_bytes: int = 256 * 1024
    ) -> None:
        self.cache = cache
        self.ttl_seconds = ttl_seconds
        self.max_entry_bytes = max_entry_bytes

    @staticmethod
    def key(tenant_id: uuid.UUID, kind: str, request: dict[str, Any]) -> str:
        return f"{tenant_id}:{kind}:{fingerprint(request)}"

    async def get(self, key: str) -> CacheHit | None:
        entry = await self.cache.get(key)
        if not isinstance(entry, dict):
            return None
        return CacheHit(
            entry["response"], entry.get("routed_model"), entry.get("provider"), "exact"
        )

    async def put(
        self,
        key: str,
        response: dict[str, Any],
        *,
        routed_model: str | None,
        provider: str | None,
        ttl_seconds: float | None = None,
    ) -> bool:
        """Store an answer; False when it is too large to cache."""
        entry = stored(response, routed_model, provider)
        if len(json.dumps(entry)) > self.max_entry_bytes:
            return False
        await self.cache.set(key, entry, self.ttl_seconds if ttl_seconds is None else ttl_seconds)
        return True

"""What a cache lookup returns: the stored answer, replayed at no cost and marked as a hit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

CACHE_HEADER = "x-auterity-cache"


@dataclass(frozen=True, slots=True)
class CacheHit:
    response: dict[str, Any]
    routed_model: str | None
    provider: str | None
    kind: Literal["exact", "semantic"]
    similarity: float = 1.0
    cost_micros: int = 0  # a hit calls no provider: it is free

    def headers(self) -> dict[str, str]:
        return {CACHE_HEADER: self.kind}


def stored(
    response: dict[str, Any], routed_model: str | None, provider: str | None
) -> dict[str, Any]:
    return {"response": response, "routed_model": routed_model, "provider": provider}

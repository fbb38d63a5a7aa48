"""Response cache: exact (normalised request hash) and opt-in semantic (embedding similarity)."""

from auterity.relaycore.cache.exact import ExactCache
from auterity.relaycore.cache.hit import CACHE_HEADER, CacheHit
from auterity.relaycore.cache.normalise import fingerprint, normalise
from auterity.relaycore.cache.response_cache import Lookup, ResponseCache
from auterity.relaycore.cache.semantic import Embed, SemanticCache, SemanticProbe

__all__ = [
    "CACHE_HEADER",
    "CacheHit",
    "Embed",
    "ExactCache",
    "Lookup",
    "ResponseCache",
    "SemanticCache",
    "SemanticProbe",
    "fingerprint",
    "normalise",
]

"""Request rate limiting: counters in memory or Redis, and the ASGI middleware that applies them."""

from auterity.core.ratelimit.limiter import (
    Charge,
    Quota,
    RateLimiter,
    Usage,
    build_rate_limiter,
)

__all__ = ["Charge", "Quota", "RateLimiter", "Usage", "build_rate_limiter"]

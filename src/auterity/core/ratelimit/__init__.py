"""Request rate limiting: counters in memory or Redis, and the ASGI middleware that applies them."""

from auterity.core.ratelimit.limiter import Quota, RateLimiter, Usage, build_rate_limiter

__all__ = ["Quota", "RateLimiter", "Usage", "build_rate_limiter"]

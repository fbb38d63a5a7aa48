"""Sliding-window counters (the `limits` library) kept in memory or, when configured, in Redis.

One class over `limits`' storage interface: the storage is chosen by settings (Redis when
`redis_url` is set, shared by every process; this process's memory otherwise), the
algorithm and the answer (allowed, remaining, seconds to wait) are the same for both.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auterity.core.errors import ServiceUnavailable
from auterity.core.settings import Settings

KEY_PREFIX = "auterity:ratelimit"


@dataclass(frozen=True, slots=True)
class Quota:
    """At most `limit` requests per `window_seconds`, counted per key under `name`."""

    name: str
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Where a key stands against a quota after (or without) counting a request."""

    quota: Quota
    allowed: bool
    remaining: int
    reset_after: int  # whole seconds until a counted request stops counting (0: none counted)


class RateLimiter:
    """Counts requests (or any units: tokens) per key against quotas; `peek` only looks."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, quota: Quota, key: str, cost: int = 1) -> Usage:
        """Count `cost` units for `key`; `allowed` is False (and nothing counted) when over."""
        item = _item(quota)
        try:
            allowed = await self._strategy.hit(item, quota.name, key, cost=cost)
            return await self._usage(quota, key, allowed)
        except (StorageError, RedisError, OSError) as exc:
            raise ServiceUnavailable(f"The rate-limit store is unavailable: {exc}") from exc

    async def peek(self, quota: Quota, key: str, cost: int = 1) -> Usage:
        """Where `key` stands (would `cost` more fit?), without counting anything."""
        try:
            allowed = await self._strategy.test(_item(quota), quota.name, key, cost=cost)
            return await self._usage(quota, key, allowed)
        except (StorageError, RedisError, OSError) as exc:
            raise ServiceUnavailable(f"The rate-limit store is unavailable: {exc}") from exc

    async def _usage(self, quota: Quota, key: str, allowed: bool) -> Usage:
        stats = await self._strategy.get_window_stats(_item(quota), quota.name, key)
        wait = max(0.0, stats.reset_time - time.time())
        return Usage(
            quota=quota,
            allowed=allowed,
            remaining=max(0, stats.remaining),
            reset_after=math.ceil(wait),
        )


def _item(quota: Quota) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(quota.limit, quota.window_seconds)


def build_rate_limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    """Redis-backed when the runtime has Redis (sharing its connection pool), else in memory."""
    if redis is not None and settings.redis_url:
        # The URL only names the scheme here: connections come from the runtime's pool.
        url = settings.redis_url.replace("unix://", "redis+unix://", 1)
        storage: Storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            # limits types its options as scalars, but hands them to redis-py as they are.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
    else:
        storage = MemoryStorage()
    return RateLimiter(storage)

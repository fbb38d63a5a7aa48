"""The per-process runtime: what the app factory builds once and every request shares."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from redis.asyncio import BlockingConnectionPool, Redis

from auterity.core.cache import Cache
from auterity.core.crypto import Sealer, TokenHasher
from auterity.core.database import Database
from auterity.core.ratelimit import RateLimiter, build_rate_limiter
from auterity.core.settings import Settings


class LoopMonitor:
    """Measures event-loop lag: a sleeper that wakes late means the loop is blocked."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.lag_ms = 0.0
        self.last_beat = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def _run(self) -> None:
        while True:
            expected = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.lag_ms = max(0.0, (now - expected) * 1000)
            self.last_beat = now

    def stalled_for(self) -> float:
        """Seconds since the monitor last ran (large when the loop is stuck)."""
        return time.monotonic() - self.last_beat

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


REDIS_MAX_CONNECTIONS = 100
REDIS_POOL_TIMEOUT = 5.0


def build_redis(url: str) -> Redis:
    """A client whose pool makes a burst wait for a free connection instead of failing.

    redis-py's default pool raises "Too many connections" past its cap (100), so 200
    concurrent gateway requests would fail on the budget or rate-limit store.
    """
    pool = BlockingConnectionPool.from_url(
        url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_POOL_TIMEOUT
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cache: Cache
    sealer: Sealer
    hasher: TokenHasher
    rate_limiter: RateLimiter
    redis: Redis | None = None
    loop_monitor: LoopMonitor = field(default_factory=LoopMonitor)
    services: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, settings: Settings, services: tuple[str, ...], db: Database | None = None
    ) -> Runtime:
        redis = build_redis(settings.redis_url) if settings.redis_url else None
        secret = settings.ensure_secret_key().get_secret_value()
        previous = [key.get_secret_value() for key in settings.previous_secret_keys]
        return cls(
            settings=settings,
            db=db or Database(settings),
            cache=Cache(redis=redis),
            sealer=Sealer(secret, previous),
            hasher=TokenHasher(secret, previous),
            rate_limiter=build_rate_limiter(settings, redis),
            redis=redis,
            services=services,
        )

    async def start(self) -> None:
        self.loop_monitor.start()
        await self.cache.start()

    async def close(self, *, dispose_db: bool = True) -> None:
        await self.loop_monitor.stop()
        await self.cache.stop()
        if self.redis is not None:
            await self.redis.aclose()
        if dispose_db:
            await self.db.dispose()

"""Two-level cache: an in-process LRU with TTL (L1) in front of an optional Redis (L2).

Values are JSON (never pickle, so a shared Redis cannot be turned into code execution).
`invalidate` drops a key from both levels and tells other processes, over Redis pub/sub,
to drop it from their L1 too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TLRUCache
from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from auterity.core.logging import get_logger

log = get_logger(__name__)
_MISSING = object()
INVALIDATION_CHANNEL = "auterity:cache:invalidate"


def _ttu(key: str, value: tuple[Any, float], now: float) -> float:
    return value[1]


class Cache:
    """`get`/`set`/`invalidate`/`get_or_load` over L1 and, when given, Redis."""

    def __init__(
        self,
        *,
        maxsize: int = 10_000,
        default_ttl: float = 60.0,
        redis: Redis | None = None,
        namespace: str = "auterity:cache:",
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timer = timer
        self._l1: TLRUCache[str, tuple[Any, float]] = TLRUCache(
            maxsize=maxsize, ttu=_ttu, timer=timer
        )
        self.default_ttl = default_ttl
        self.redis = redis
        self.namespace = namespace
        self._listener: asyncio.Task[None] | None = None
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> Any:
        """The cached value, or None."""
        value = await self._get(key)
        return None if value is _MISSING else value

    async def _get(self, key: str) -> Any:
        entry = self._l1.get(key)
        if entry is not None:
            self.hits += 1
            return entry[0]
        if self.redis is not None:
            raw = await self.redis.get(self.namespace + key)
            if raw is not None:
                ttl_ms = await self.redis.pttl(self.namespace + key)
                value = json.loads(raw)
                if ttl_ms > 0:
                    self._l1[key] = (value, self._timer() + ttl_ms / 1000)
                self.hits += 1
                return value
        self.misses += 1
        return _MISSING

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._l1[key] = (value, self._timer() + ttl)
        if self.redis is not None:
            await self.redis.set(
                self.namespace + key, json.dumps(value), px=max(1, int(ttl * 1000))
            )

    async def invalidate(self, *keys: str) -> None:
        for key in keys:
            self._l1.pop(key, None)
        if self.redis is not None and keys:
            await self.redis.delete(*(self.namespace + key for key in keys))
            await self.redis.publish(INVALIDATION_CHANNEL, json.dumps(list(keys)))

    async def get_or_load(
        self, key: str, load: Callable[[], Awaitable[Any]], ttl: float | None = None
    ) -> Any:
        """Return the cached value, or load, cache and return it (None results are not cached).

        Callers that miss the same key together share one load: when a hot key expires,
        hundreds of waiters must not each take a database connection to read it again."""
        value = await self._get(key)
        if value is not _MISSING:
            return value
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, load, ttl))
            self._loading[key] = loading
        # Shielded: one caller giving up must not cancel the load the others wait for.
        return await asyncio.shield(loading)

    async def _load(self, key: str, load: Callable[[], Awaitable[Any]], ttl: float | None) -> Any:
        try:
            value = await load()
            if value is not None:
                await self.set(key, value, ttl)
            return value
        finally:
            self._loading.pop(key, None)

    def clear_local(self) -> None:
        self._l1.clear()

    async def start(self) -> None:
        """Listen for other processes' invalidations (only with Redis); never blocks start-up."""
        if self.redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="cache-invalidation")

    async def _listen(self) -> None:
        assert self.redis is not None
        backoff = ExponentialBackoff(cap=30, base=0.5)
        failures = 0
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                failures = 0
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    with contextlib.suppress(ValueError, TypeError):
                        for key in json.loads(message["data"]):
                            self._l1.pop(key, None)
            except RedisError as exc:
                # Invalidations may be missed while disconnected: drop L1 so nothing stale lingers.
                self._l1.clear()
                failures += 1
                log.warning("cache_invalidation_listener_down", error=type(exc).__name__)
                await asyncio.sleep(backoff.compute(failures))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

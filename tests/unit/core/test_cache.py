from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from auterity.core.cache import Cache


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_l1_entries_expire_after_their_ttl() -> None:
    timer = FakeTimer()
    cache = Cache(default_ttl=10, timer=timer)
    await cache.set("k", {"v": 1})
    assert await cache.get("k") == {"v": 1}
    timer.now += 11
    assert await cache.get("k") is None


async def test_l1_is_bounded_and_evicts_least_recently_used() -> None:
    cache = Cache(maxsize=2)
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.get("a")
    await cache.set("c", 3)
    assert await cache.get("a") == 1
    assert await cache.get("b") is None


async def test_get_or_load_loads_once_and_does_not_cache_none() -> None:
    cache = Cache()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return 42

    assert await cache.get_or_load("x", load) == 42
    assert await cache.get_or_load("x", load) == 42
    assert calls == 1

    async def load_none() -> None:
        return None

    assert await cache.get_or_load("y", load_none) is None
    assert await cache.get("y") is None


async def test_callers_missing_together_share_one_load() -> None:
    cache = Cache()
    loads = 0
    release = asyncio.Event()

    async def load() -> dict[str, int]:
        nonlocal loads
        loads += 1
        await release.wait()
        return {"caps": 1}

    waiters = [asyncio.ensure_future(cache.get_or_load("hot", load)) for _ in range(50)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # one caller giving up does not cancel the others' load
    release.set()
    results = await asyncio.gather(*waiters[1:])
    assert loads == 1 and results == [{"caps": 1}] * 49
    assert await cache.get_or_load("hot", load) == {"caps": 1} and loads == 1


async def test_redis_l2_is_shared_and_invalidation_reaches_other_processes(redis_url: str) -> None:
    namespace = f"test:{uuid.uuid4().hex}:"
    one = Cache(redis=Redis.from_url(redis_url), namespace=namespace)
    two = Cache(redis=Redis.from_url(redis_url), namespace=namespace)
    await one.start()
    await two.start()
    try:
        await asyncio.sleep(0.05)  # let both subscriptions register
        await one.set("key", {"plan": "pro"}, ttl=30)
        assert await two.get("key") == {"plan": "pro"}  # from Redis, now in two's L1
        await one.invalidate("key")
        for _ in range(50):
            if await two.get("key") is None:
                break
            await asyncio.sleep(0.02)
        assert await two.get("key") is None
    finally:
        for cache in (one, two):
            await cache.stop()
            assert cache.redis is not None
            await cache.redis.aclose()


def test_values_must_be_json(redis_url: str) -> None:
    async def scenario() -> None:
        cache = Cache(redis=Redis.from_url(redis_url), namespace=f"test:{uuid.uuid4().hex}:")
        try:
            with pytest.raises(TypeError):
                await cache.set("k", object())
        finally:
            assert cache.redis is not None
            await cache.redis.aclose()

    asyncio.run(scenario())

"""The exact cache stage, in process memory and shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from auterity.core.cache import Cache
from auterity.relaycore.accounting import CACHE_NAMESPACE
from auterity.relaycore.cache import ExactCache, ResponseCache, SemanticCache
from tests.unit.relaycore.test_semantic_cache import bag_of_words

ANSWER = {"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "content": "4"}}]}


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "fast", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture(params=["memory", "redis"])
async def caches(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Cache, Cache]]:
    """Two processes' caches: separate memories, one Redis when the store is Redis."""
    if request.param == "memory":
        yield Cache(namespace=CACHE_NAMESPACE), Cache(namespace=CACHE_NAMESPACE)
        return
    url = request.getfixturevalue("redis_url")
    first, second = Redis.from_url(url), Redis.from_url(url)
    try:
        yield (
            Cache(redis=first, namespace=CACHE_NAMESPACE),
            Cache(redis=second, namespace=CACHE_NAMESPACE),
        )
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_stored_answer_is_replayed_free_and_marked(caches: tuple[Cache, Cache]) -> None:
    cache = ResponseCache(ExactCache(caches[0]))
    tenant = uuid.uuid4()
    miss = await cache.lookup(tenant, chat("2+2?"))
    assert miss.hit is None
    await cache.store(miss, ANSWER, routed_model="gpt-4o-mini", provider="openai")

    again = await cache.lookup(tenant, chat("2+2?", stream=True, user="someone-else"))
    assert again.hit is not None
    assert (again.hit.response, again.hit.cost_micros, again.hit.kind) == (ANSWER, 0, "exact")
    assert (again.hit.routed_model, again.hit.provider) == ("gpt-4o-mini", "openai")
    assert again.hit.headers() == {"x-auterity-cache": "exact"}
    assert (await cache.lookup(uuid.uuid4(), chat("2+2?"))).hit is None  # per tenant
    assert (await cache.lookup(tenant, chat("2+2?"), kind="embeddings")).hit is None


async def test_redis_shares_the_cache_between_processes(
    caches: tuple[Cache, Cache], request: pytest.FixtureRequest
) -> None:
    tenant = uuid.uuid4()
    one, two = ResponseCache(ExactCache(caches[0])), ResponseCache(ExactCache(caches[1]))
    await one.store(await one.lookup(tenant, chat("hi")), ANSWER, routed_model="m", provider="p")
    shared = (await two.lookup(tenant, chat("hi"))).hit is not None
    assert shared == ("redis" in request.node.callspec.id)


async def test_answers_expire_and_large_ones_are_not_kept() -> None:
    now = [0.0]
    cache = ExactCache(Cache(timer=lambda: now[0]), ttl_seconds=30, max_entry_bytes=1_000)
    key = ExactCache.key(uuid.uuid4(), "chat", chat("hi"))
    assert await cache.put(key, ANSWER, routed_model="m", provider="p")
    assert await cache.get(key) is not None
    now[0] = 31
    assert await cache.get(key) is None
    assert not await cache.put(key, {"content": "x" * 2_000}, routed_model="m", provider="p")
    assert await cache.get(key) is None


async def test_semantic_lookup_only_when_asked_and_after_an_exact_miss() -> None:
    embedded: list[str] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        embedded.extend(texts)
        return [list(v) for v in await bag_of_words(texts)]

    cache = ResponseCache(ExactCache(Cache()), SemanticCache(embed, threshold=0.9))
    tenant = uuid.uuid4()
    first = await cache.lookup(tenant, chat("What is the capital of France?"), semantic=True)
    await cache.store(first, ANSWER, routed_model="m", provider="p")
    assert (await cache.lookup(tenant, chat("Of France, what is the capital?"))).hit is None
    near = await cache.lookup(tenant, chat("Of France, what is the capital?"), semantic=True)
    assert near.hit is not None and near.hit.kind == "semantic"
    exact = await cache.lookup(tenant, chat("What is the capital of France?"), semantic=True)
    assert exact.hit is not None and exact.hit.kind == "exact"
    assert len(embedded) == 2  # the exact hit needed no embedding

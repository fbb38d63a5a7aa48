"""The semantic cache over a real (if simple) embedding: hashed bag of words, unit-normalised.

The embedding is deterministic and has the property that matters: prompts with the same words
land close together, prompts with other words do not.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence

import pytest

from auterity.relaycore.cache import SemanticCache

DIMENSIONS = 256


async def bag_of_words(texts: list[str]) -> Sequence[Sequence[float]]:
    vectors = []
    for text in texts:
        vector = [0.0] * DIMENSIONS
        for word in re.findall(r"[a-z]+", text.lower()):
            digest = hashlib.sha256(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % DIMENSIONS] += 1.0
        vectors.append(vector)
    return vectors


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "fast", "messages": [{"role": "user", "content": text}], **extra}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


TENANT = uuid.uuid4()
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris"}}]}


async def remember(
    cache: SemanticCache, request: dict[str, object], tenant: uuid.UUID = TENANT
) -> None:
    probe = await cache.probe(tenant, request)
    assert probe is not None
    cache.store(probe, ANSWER, routed_model="gpt-4o-mini", provider="openai")


async def test_a_near_identical_prompt_hits_and_a_different_one_misses() -> None:
    cache = SemanticCache(bag_of_words, threshold=0.9)
    await remember(cache, chat("What is the capital of France?"))

    probe = await cache.probe(TENANT, chat("what is the capital of france"))
    assert probe is not None
    hit = cache.lookup(probe)
    assert hit is not None
    assert (hit.kind, hit.cost_micros, hit.response) == ("semantic", 0, ANSWER)
    assert hit.similarity >= 0.9
    assert hit.headers() == {"x-auterity-cache": "semantic"}

    other = await cache.probe(TENANT, chat("Write a haiku about autumn leaves"))
    assert other is not None and cache.lookup(other) is None


async def test_tenants_and_request_parameters_are_kept_apart() -> None:
    cache = SemanticCache(bag_of_words, threshold=0.9)
    await remember(cache, chat("What is the capital of France?"))
    for tenant, request in [
        (uuid.uuid4(), chat("What is the capital of France?")),
        (TENANT, chat("What is the capital of France?", temperature=0.2)),
        (TENANT, {**chat("What is the capital of France?"), "model": "smart"}),
    ]:
        probe = await cache.probe(tenant, request)
        assert probe is not None and cache.lookup(probe) is None
    # Fields that do not change the answer do not split the partition.
    probe = await cache.probe(
        TENANT, chat("What is the capital of France?", user="bob", stream=True)
    )
    assert probe is not None and cache.lookup(probe) is not None


async def test_entries_expire_and_the_size_is_bounded() -> None:
    clock = Clock()
    cache = SemanticCache(
        bag_of_words, threshold=0.99, ttl_seconds=10, max_entries_per_partition=3,
        max_partitions=2, timer=clock,
    )  # fmt: skip
    for word in ("alpha", "beta", "gamma", "delta"):
        await remember(cache, chat(word))
    assert cache.size == 3  # alpha, the oldest, made room
    first = await cache.probe(TENANT, chat("alpha"))
    assert first is not None and cache.lookup(first) is None
    for tenant in (uuid.uuid4(), uuid.uuid4()):
        await remember(cache, chat("alpha"), tenant)
    assert cache.size == 2  # two partitions at most: TENANT's, the oldest, went


async def test_an_expired_entry_is_not_served() -> None:
    clock = Clock()
    cache = SemanticCache(bag_of_words, threshold=0.99, ttl_seconds=10, timer=clock)
    await remember(cache, chat("alpha"))
    probe = await cache.probe(TENANT, chat("alpha"))
    assert probe is not None and cache.lookup(probe) is not None
    clock.now = 10
    assert cache.lookup(probe) is None
    assert cache.size == 0


def test_the_threshold_must_be_a_similarity() -> None:
    with pytest.raises(ValueError, match="threshold"):
        SemanticCache(bag_of_words, threshold=1.5)

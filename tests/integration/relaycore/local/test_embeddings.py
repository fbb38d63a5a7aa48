"""The real bundled embedding model (all-MiniLM-L6-v2 through sentence-transformers)."""

from __future__ import annotations

import asyncio
import math

import pytest

from auterity.relaycore.local import (
    EMBEDDING_DIMENSIONS,
    EMBEDDING_MODEL_ID,
    LocalEmbeddingModel,
    embedding_model_installed,
    get_embedding_model,
)

pytestmark = pytest.mark.skipif(
    not embedding_model_installed(),
    reason="the `local` extra is not installed (pip install -e '.[local]'; make test does)",
)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_vectors_are_normalised_384_dimensions_in_input_order() -> None:
    texts = ["The cat sits on the mat.", "", "Quarterly revenue grew by 12 percent."]
    vectors, tokens = await get_embedding_model().embed(texts)
    assert get_embedding_model().model_id == EMBEDDING_MODEL_ID
    assert len(vectors) == 3
    assert {len(vector) for vector in vectors} == {EMBEDDING_DIMENSIONS} == {384}
    for vector in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)
    alone, _ = await get_embedding_model().embed([texts[2]])
    assert cosine(alone[0], vectors[2]) > 0.9999
    # WordPiece pieces plus [CLS] and [SEP]: "the cat sits on the mat ." is 7 + 2, the empty
    # text 0 + 2, "quarterly revenue grew by 12 percent ." 7 + 2.
    assert tokens == 20


async def test_similar_sentences_score_higher_than_unrelated_ones() -> None:
    (food, bread, horse, finance), _ = await get_embedding_model().embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A man is riding a horse.",
            "The central bank raised interest rates.",
        ]
    )
    assert cosine(food, bread) > 0.6
    assert cosine(food, bread) > cosine(food, horse) > cosine(food, finance)
    assert cosine(food, finance) < 0.2


async def test_long_texts_are_truncated_to_the_model_window() -> None:
    (vector,), tokens = await get_embedding_model().embed(["word " * 2000])
    assert len(vector) == 384
    assert tokens == 256  # all-MiniLM-L6-v2 reads at most 256 word pieces


async def test_an_empty_list_needs_no_model() -> None:
    assert await LocalEmbeddingModel().embed([]) == ([], 0)


async def test_concurrent_calls_get_the_same_vectors_as_one_call() -> None:
    texts = [f"Sentence number {i} about topic {i % 3}." for i in range(6)]
    together, _ = await get_embedding_model().embed(texts)
    apart = await asyncio.gather(*(get_embedding_model().embed([text]) for text in texts))
    for (vectors, _), expected in zip(apart, together, strict=True):
        assert cosine(vectors[0], expected) > 0.9999

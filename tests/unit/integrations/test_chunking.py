"""Chunking documents for embedding: sizes, overlap, boundaries, tokens."""

from __future__ import annotations

import itertools

import pytest

from auterity.integrations.vectors import chunk_text
from auterity.integrations.vectors.chunking import _encoding

TEXT = (
    "First paragraph about cats. Cats sleep a lot.\n\n"
    "Second paragraph about engines. Engines burn fuel.\n\n"
    "Third paragraph about tea. Tea is brewed with hot water."
)


def test_character_chunks_respect_size_end_at_boundaries_and_overlap() -> None:
    chunks = chunk_text(TEXT, size=60, overlap=15)
    assert len(chunks) >= 3
    assert all(len(chunk.text) <= 60 for chunk in chunks)
    assert chunks[0].text == "First paragraph about cats. Cats sleep a lot."  # a paragraph end
    for before, after in itertools.pairwise(chunks):
        assert after.start == before.end - 15  # each starts `overlap` before the last ended
    assert "Tea is brewed with hot water." in chunks[-1].text
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


def test_token_chunks_and_edges() -> None:
    chunks = chunk_text(TEXT, size=10, overlap=2, unit="tokens")
    assert all(chunk.end - chunk.start <= 10 for chunk in chunks)
    assert chunks[1].start == 8
    total = len(_encoding().encode(TEXT))
    assert chunks[-1].end == total
    assert chunk_text("   \n ", size=10) == []
    assert [c.text for c in chunk_text("short", size=100, overlap=10)] == ["short"]
    with pytest.raises(ValueError, match="less than size"):
        chunk_text(TEXT, size=10, overlap=10)

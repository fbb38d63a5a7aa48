"""Workflows written with the Python SDK: `auterity deploy examples/sdk/my_flows.py`, then
`auterity run examples/sdk/my_flows.py:word_report --input text="a b a" --watch`."""

from __future__ import annotations

from collections import Counter

from auterity.sdk import step, workflow


@step
def count_words(text: str) -> dict[str, int]:
    return dict(Counter(text.split()))


@step(retries=2, timeout="10s")
def top(counts: dict[str, int], n: int = 3) -> list[str]:
    return [word for word, _ in Counter(counts).most_common(n)]


@step
def summary(words: list[str], total: int) -> str:
    return f"{total} distinct words; most common: {', '.join(words)}"


@step
def distinct(counts: dict[str, int]) -> int:
    return len(counts)


@workflow
def word_report(text: str, n: int = 3) -> dict[str, object]:
    """Counts the words of `text` and names the most common ones."""
    counts = count_words(text)
    words = top(counts, n=n)
    return {"top": words, "summary": summary(words, distinct(counts))}

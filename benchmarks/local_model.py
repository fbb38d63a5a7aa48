"""The bundled local models: SmolLM2-135M chat tokens/s and all-MiniLM-L6-v2 embedding throughput.

Prints one table each. The chat rows compare RelayCore's `LocalChatModel` (worker thread, lock,
OpenAI-shaped chunks) with llama-cpp-python's own `create_chat_completion` on the same prompt
with greedy decoding, per thread count; the embedding rows compare `LocalEmbeddingModel` with
sentence-transformers' `encode` called directly. The machine's other load is printed with each
table, since a shared box moves these figures a lot. Usage:
    .venv/bin/python benchmarks/local_model.py [--threads 1,2] [--tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from auterity.core.settings import load_settings
from auterity.relaycore.local import LocalChatModel, LocalEmbeddingModel
from auterity.relaycore.local.bundled import chat_model_path

console = Console()
PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
SENTENCES = [
    f"Customer {i} asked about invoice {i * 7} and the delivery date of order {i * 13}."
    for i in range(256)
]


def load_note() -> str:
    one, _, _ = os.getloadavg()
    return f"load average {one:.1f} on {os.cpu_count()} CPUs"


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def ours(
    threads: int, request: dict[str, Any], repeats: int
) -> tuple[float, list[float], list[float]]:
    model = LocalChatModel(load_settings(_env_file=None, local_model_threads=threads))
    load_seconds, _ = await timed(model.load)
    await model.complete(request)  # warm-up: the first decode after a load is several times slower
    rates, first_token = [], []
    for _ in range(repeats):
        elapsed, answer = await timed(lambda: model.complete(request))
        rates.append(answer["usage"]["completion_tokens"] / elapsed)
        started = time.perf_counter()
        async for chunk in model.stream(request):
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first_token.append(time.perf_counter() - started)
                break
    return load_seconds, rates, first_token


def direct(threads: int, request: dict[str, Any], repeats: int) -> list[float]:
    from llama_cpp import Llama

    raw = Llama(
        model_path=str(chat_model_path(None)),
        n_ctx=load_settings(_env_file=None).local_chat_context_tokens,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    raw.create_chat_completion(**request, repeat_penalty=1.1)  # warm-up, as for ours
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = raw.create_chat_completion(**request, repeat_penalty=1.1)
        rates.append(answer["usage"]["completion_tokens"] / (time.perf_counter() - started))
    return rates


async def chat_rows(threads: int, tokens: int, repeats: int) -> list[list[str]]:
    request = {"messages": PROMPT, "temperature": 0, "max_tokens": tokens}
    load_seconds, rates, first_token = await ours(threads, request, repeats)
    # One model in memory at a time: an idle llama context's threads still poll for a while,
    # and on a small machine two of them side by side halve each other's speed.
    gc.collect()
    direct_rates = direct(threads, request, repeats)
    gc.collect()
    ratio = statistics.median(rates) / statistics.median(direct_rates)
    return [
        [
            str(threads),
            f"{load_seconds:.2f}",
            f"{statistics.median(first_token) * 1000:.0f}",
            f"{statistics.median(rates):.1f}",
            f"{statistics.median(direct_rates):.1f}",
            f"{ratio:.0%}",
        ]
    ]


async def embedding_rows(repeats: int) -> list[list[str]]:
    model = LocalEmbeddingModel(load_settings(_env_file=None))
    load_seconds, encoder = await timed(model.load)
    await model.embed(SENTENCES[:32])  # warm-up
    st_model = encoder._model  # the same loaded model, called directly for the comparison
    rows = []
    for batch in (1, 32, 256):
        texts = SENTENCES[:batch]
        ours, direct = [], []
        for _ in range(repeats):
            elapsed, _ = await timed(lambda texts=texts: model.embed(texts))
            ours.append(batch / elapsed)
            started = time.perf_counter()
            st_model.encode(texts, batch_size=32, normalize_embeddings=True)
            direct.append(batch / (time.perf_counter() - started))
        rows.append(
            [
                str(batch),
                f"{statistics.median(ours):.0f}",
                f"{statistics.median(direct):.0f}",
                f"{statistics.median(ours) / statistics.median(direct):.0%}",
            ]
        )
    rows[0].insert(0, f"{load_seconds:.2f}")
    for row in rows[1:]:
        row.insert(0, "")
    return rows


async def run(threads: list[int], tokens: int, repeats: int) -> None:
    table = Table(title=f"Local chat: SmolLM2-135M-Instruct Q4_1, {tokens} tokens, greedy")
    for column in (
        "threads",
        "load s",
        "first token ms",
        "RelayCore tok/s",
        "llama-cpp-python tok/s",
        "ratio",
    ):
        table.add_column(column, justify="right")
    for count in threads:
        for row in await chat_rows(count, tokens, repeats):
            table.add_row(*row)
    console.print(table)
    console.print(load_note())

    table = Table(title="Local embeddings: all-MiniLM-L6-v2, 384 dimensions")
    for column in ("load s", "texts per call", "RelayCore texts/s", "direct texts/s", "ratio"):
        table.add_column(column, justify="right")
    for row in await embedding_rows(repeats):
        table.add_row(*row)
    console.print(table)
    console.print(load_note())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="thread counts to try (comma-separated)")
    parser.add_argument("--tokens", type=int, default=128, help="completion tokens per request")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    threads = [int(item) for item in args.threads.split(",")]
    asyncio.run(run(threads, args.tokens, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())

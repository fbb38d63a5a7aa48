"""The bundled chat model behind OpenAI-shaped answers: `complete` and `stream`.

Loaded on first use so start-up stays fast. Every generation runs in a worker thread, one at a
time, so the event loop never blocks and the llama context is never shared.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from auterity.core.clock import utcnow
from auterity.core.ids import new_id
from auterity.core.settings import Settings, get_settings
from auterity.relaycore.local.bundled import CHAT_MODEL_ID, chat_model_path
from auterity.relaycore.local.lazy import LazyLoad
from auterity.relaycore.local.request import ChatParams, parse_chat_request

if TYPE_CHECKING:
    from auterity.relaycore.local.runner import LlamaRunner, Prepared

Chunk = dict[str, Any]


class LocalChatModel:
    """SmolLM2-135M-Instruct on llama.cpp, answering OpenAI chat completions bodies."""

    model_id = CHAT_MODEL_ID

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._runner = LazyLoad(self._build_runner)
        # Waiting requests queue here, off the worker threads; the runner's own lock is what
        # keeps the llama context to one caller.
        self._gate = anyio.Lock()
        self._producers: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    async def load(self) -> LlamaRunner:
        """Load the model now (it loads by itself on first use)."""
        return await self._runner.get()

    def _build_runner(self) -> LlamaRunner:
        settings = self.settings
        path = chat_model_path(settings.local_chat_model_path)
        from auterity.relaycore.local.runner import LlamaRunner

        return LlamaRunner(
            path,
            context_tokens=settings.local_chat_context_tokens,
            threads=settings.resolved_local_model_threads,
        )

    async def _generation(self, request: dict[str, Any]) -> _Generation:
        params = parse_chat_request(request)
        return _Generation(await self.load(), params, self.settings.local_chat_max_tokens)

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer a chat completions body with a `chat.completion` object."""
        generation = await self._generation(request)
        try:
            async with self._gate:
                return await anyio.to_thread.run_sync(generation.completion, abandon_on_cancel=True)
        finally:
            generation.cancelled.set()

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[Chunk]:
        """Answer a chat completions body with `chat.completion.chunk` objects.

        Errors in the request (validation, context length) raise before the first chunk.
        Closing the iterator early stops generation at the next token.
        """
        generation = await self._generation(request)
        send, receive = anyio.create_memory_object_stream[Chunk | Exception](math.inf)
        # The producer owns the gate for the whole generation, so a consumer that stops
        # reading never holds the model: generation ends at max_tokens or on cancel.
        producer = asyncio.create_task(self._produce(generation, send))
        self._producers.add(producer)
        producer.add_done_callback(self._producers.discard)
        try:
            async with receive:
                async for item in receive:
                    if isinstance(item, Exception):
                        raise item
                    yield item
        finally:
            generation.cancelled.set()

    async def _produce(
        self, generation: _Generation, send: MemoryObjectSendStream[Chunk | Exception]
    ) -> None:
        with send:
            try:
                async with self._gate:
                    await anyio.to_thread.run_sync(generation.chunks, send)
            except Exception as exc:
                with suppress(anyio.BrokenResourceError):
                    send.send_nowait(exc)


@dataclass(frozen=True, slots=True)
class _Generation:
    """One request's choices, generated in a worker thread."""

    runner: LlamaRunner
    params: ChatParams
    default_max_tokens: int
    cancelled: threading.Event = field(default_factory=threading.Event)

    def completion(self) -> dict[str, Any]:
        prepared = self.runner.prepare(self.params, self.default_max_tokens)
        seed = _seed(self.params)
        choices = []
        completion_tokens = 0
        for index in range(self.params.n):
            pieces: list[str] = []
            outcome = self.runner.generate(
                prepared, self.params, seed + index, pieces.append, self.cancelled
            )
            completion_tokens += outcome.completion_tokens
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                    "logprobs": None,
                    "finish_reason": outcome.finish_reason,
                }
            )
        return {
            **_envelope("chat.completion"),
            "choices": choices,
            "usage": _usage(prepared, completion_tokens),
        }

    def chunks(self, send: MemoryObjectSendStream[Chunk | Exception]) -> None:
        prepared = self.runner.prepare(self.params, self.default_max_tokens)
        seed = _seed(self.params)
        envelope = _envelope("chat.completion.chunk")
        if self.params.include_usage:
            envelope["usage"] = None

        def deliver(index: int, delta: dict[str, str], finish_reason: str | None = None) -> None:
            choice = {"index": index, "delta": delta, "logprobs": None}
            chunk = {**envelope, "choices": [{**choice, "finish_reason": finish_reason}]}
            # Raises BrokenResourceError once the consumer is gone, which ends generation.
            anyio.from_thread.run_sync(send.send_nowait, chunk)

        def deliver_piece(index: int, piece: str) -> None:
            deliver(index, {"content": piece})

        completion_tokens = 0
        for index in range(self.params.n):
            if self.cancelled.is_set():
                return
            deliver(index, {"role": "assistant", "content": ""})
            outcome = self.runner.generate(
                prepared, self.params, seed + index, partial(deliver_piece, index), self.cancelled
            )
            completion_tokens += outcome.completion_tokens
            deliver(index, {}, outcome.finish_reason)
        if self.params.include_usage:
            final = {**envelope, "choices": [], "usage": _usage(prepared, completion_tokens)}
            anyio.from_thread.run_sync(send.send_nowait, final)


def _seed(params: ChatParams) -> int:
    # Without a seed, llama-cpp-python would reuse one fixed seed; OpenAI samples afresh.
    return params.seed if params.seed is not None else secrets.randbits(31)


def _envelope(kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{new_id().hex}",
        "object": kind,
        "created": int(utcnow().timestamp()),
        "model": CHAT_MODEL_ID,
    }


def _usage(prepared: Prepared, completion_tokens: int) -> dict[str, int]:
    # OpenAI counts the prompt once however many choices (n) were generated from it.
    prompt_tokens = len(prepared.prompt_tokens)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@cache
def get_chat_model() -> LocalChatModel:
    """The process-wide local chat model (loaded on first use, not here)."""
    return LocalChatModel()

"""The bundled local models (`auterity.relaycore.local`), imported only when first called.

Start-up stays fast and a process that never routes to them never loads llama.cpp or an
embedding model; a build without them answers "not configured" so routing moves on.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from auterity.relaycore.providers.base import Call, ProviderNotConfigured

LOCAL_MODULE = "auterity.relaycore.local"


class LocalChatModel(Protocol):
    async def complete(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...


class LocalEmbeddingModel(Protocol):
    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]: ...


def _module() -> Any:
    try:
        return importlib.import_module(LOCAL_MODULE)
    except ImportError as exc:
        raise ProviderNotConfigured(f"the bundled local models are not installed ({exc})") from None


class LocalProvider:
    async def chat(self, call: Call) -> dict[str, Any]:
        model: LocalChatModel = _module().get_chat_model()
        return await model.complete({**call.body, "model": call.deployment.model})

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        model: LocalChatModel = _module().get_chat_model()
        async for chunk in model.stream({**call.body, "model": call.deployment.model}):
            yield chunk

    async def embed(self, call: Call) -> dict[str, Any]:
        model: LocalEmbeddingModel = _module().get_embedding_model()
        inputs = call.body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(item) for item in inputs or ()]
        vectors, tokens = await model.embed(texts)
        return {
            "object": "list",
            "model": call.deployment.model,
            "data": [
                {"object": "embedding", "index": index, "embedding": vector}
                for index, vector in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def aclose(self) -> None:
        """The models stay loaded for the process's life."""

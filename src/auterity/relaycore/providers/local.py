"""The bundled local models (`auterity.relaycore.local`), imported only when first called.

Start-up stays fast and a process that never routes to them never loads llama.cpp or an
embedding model; a build without them answers "not configured" so routing moves on.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Protocol

from auterity.core.errors import AuterityError
from auterity.relaycore.providers.base import (
    Call,
    ProviderError,
    ProviderNotConfigured,
    UpstreamRejected,
)

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


@cache
def local_model_installed(kind: str) -> bool:
    """Whether the bundled chat (or embedding) model can run here; the module itself is
    light to import, the models load on first use."""
    if importlib.util.find_spec(LOCAL_MODULE) is None:
        return False
    module = importlib.import_module(LOCAL_MODULE)
    name = "embedding_model_installed" if kind == "embedding" else "chat_model_installed"
    check = getattr(module, name, None)
    return bool(check()) if callable(check) else True


@contextmanager
def mapped_errors() -> Iterator[None]:
    """The local models' own errors, in the provider tree: missing -> skip, 4xx -> client's."""
    try:
        yield
    except ProviderError:
        raise
    except AuterityError as exc:
        if exc.status >= 500:
            raise ProviderNotConfigured(exc.detail) from None
        raise UpstreamRejected(exc.detail, status=exc.status) from None


class LocalProvider:
    async def chat(self, call: Call) -> dict[str, Any]:
        with mapped_errors():
            model: LocalChatModel = _module().get_chat_model()
            return await model.complete({**call.body, "model": call.deployment.model})

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        with mapped_errors():
            model: LocalChatModel = _module().get_chat_model()
            async for chunk in model.stream({**call.body, "model": call.deployment.model}):
                yield chunk

    async def embed(self, call: Call) -> dict[str, Any]:
        inputs = call.body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(item) for item in inputs or ()]
        with mapped_errors():
            model: LocalEmbeddingModel = _module().get_embedding_model()
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

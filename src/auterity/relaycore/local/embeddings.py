"""The bundled embedding model: all-MiniLM-L6-v2 through sentence-transformers, 384 dimensions.

Loaded on first use (importing torch takes seconds, start-up must not); encoding runs in a
worker thread so the event loop never blocks.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from auterity.core.settings import Settings, get_settings
from auterity.relaycore.local.bundled import (
    EMBEDDING_DIMENSIONS,
    EMBEDDING_MODEL_ID,
    embedding_model_path,
)
from auterity.relaycore.local.lazy import LazyLoad

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_BATCH_SIZE = 32


class SentenceEncoder:
    """A loaded sentence-transformers model; synchronous, one caller at a time."""

    def __init__(self, path: Path, *, threads: int) -> None:
        # The model is a local folder; these make sure no library reaches for the Hub anyway.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        torch.set_num_threads(threads)
        self._model: SentenceTransformer = SentenceTransformer(
            str(path), device="cpu", local_files_only=True
        )
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        with self._lock:
            # Count what the model reads: its own tokenizer, truncated as encoding truncates.
            features = self._model.preprocess(texts)
            tokens = int(features["attention_mask"].sum())
            vectors = self._model.encode(
                texts,
                batch_size=_BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist(), tokens


class LocalEmbeddingModel:
    """all-MiniLM-L6-v2: normalised 384-dimension vectors for a list of texts."""

    model_id = EMBEDDING_MODEL_ID
    dimensions = EMBEDDING_DIMENSIONS

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._encoder = LazyLoad(self._build_encoder)
        self._gate = anyio.Lock()

    async def load(self) -> SentenceEncoder:
        """Load the model now (it loads by itself on first use)."""
        return await self._encoder.get()

    def _build_encoder(self) -> SentenceEncoder:
        settings = self._settings or get_settings()
        path = embedding_model_path(settings.local_embedding_model_path)
        return SentenceEncoder(path, threads=settings.resolved_local_model_threads)

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors for `texts` (in order) and the number of tokens the model read."""
        if not texts:
            return [], 0
        encoder = await self.load()
        async with self._gate:
            return await anyio.to_thread.run_sync(encoder.embed, texts)


@cache
def get_embedding_model() -> LocalEmbeddingModel:
    """The process-wide local embedding model (loaded on first use, not here)."""
    return LocalEmbeddingModel()


async def embed_locally(texts: list[str]) -> list[list[float]]:
    """The semantic cache's embedding: the bundled model, in this process (not accounted:
    comparing prompts is the gateway's own work, not a tenant's request)."""
    vectors, _ = await get_embedding_model().embed(texts)
    return vectors

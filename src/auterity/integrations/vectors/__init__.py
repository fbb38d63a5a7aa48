"""Vector collections: tenant-scoped, searchable by text or vector, behind one store interface."""

from auterity.integrations.vectors.chunking import Chunk, chunk_text
from auterity.integrations.vectors.embedding import (
    Attribution,
    Embedded,
    Embedder,
    EmbeddingFailed,
)
from auterity.integrations.vectors.schemas import (
    CollectionCreate,
    DocumentIn,
    QueryRequest,
    QueryResult,
    UpsertResult,
)
from auterity.integrations.vectors.service import (
    DimensionMismatch,
    EmbeddingUnavailable,
    VectorService,
)
from auterity.integrations.vectors.store import Filter, Hit, Item, Space, VectorStore

__all__ = [
    "Attribution",
    "Chunk",
    "CollectionCreate",
    "DimensionMismatch",
    "DocumentIn",
    "Embedded",
    "Embedder",
    "EmbeddingFailed",
    "EmbeddingUnavailable",
    "Filter",
    "Hit",
    "Item",
    "QueryRequest",
    "QueryResult",
    "Space",
    "UpsertResult",
    "VectorService",
    "VectorStore",
    "chunk_text",
]

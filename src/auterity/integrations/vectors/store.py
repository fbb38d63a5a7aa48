"""The one interface every vector store fills, and the metadata filter they all apply alike.

A store keeps the items of collections and finds the nearest ones; which collections exist,
and whose they are, is the service's business (the `vector_collections` table).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Metric = Literal["cosine", "l2", "dot"]
Scalar = str | int | float | bool
Filter = dict[str, Scalar | list[Scalar]]


@dataclass(frozen=True)
class Space:
    """Where a store keeps one collection's items, and how they are compared."""

    tenant_id: uuid.UUID
    collection_id: uuid.UUID
    dimensions: int
    metric: Metric


@dataclass(frozen=True)
class Item:
    id: str
    vector: npt.NDArray[np.float32]
    text: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """`distance`: lower is nearer (cosine distance, L2 distance, minus the dot product);
    `score`: higher is nearer (cosine similarity, minus the L2 distance, the dot product)."""

    id: str
    distance: float
    score: float
    text: str | None
    metadata: dict[str, Any]


class VectorStore(Protocol):
    name: str

    async def upsert(self, space: Space, items: Sequence[Item]) -> None: ...

    async def delete(self, space: Space, ids: Sequence[str]) -> int: ...

    async def query(
        self, space: Space, vector: npt.NDArray[np.float32], k: int, where: Filter
    ) -> list[Hit]: ...

    async def count(self, space: Space) -> int: ...

    async def drop(self, space: Space) -> None: ...

    async def aclose(self) -> None: ...


def matches(metadata: dict[str, Any], where: Filter) -> bool:
    """Every key of `where` equals the item's value, or is one of a list of values."""
    for key, wanted in where.items():
        value = metadata.get(key)
        if isinstance(wanted, list):
            if not any(_same(value, option) for option in wanted):
                return False
        elif not _same(value, wanted):
            return False
    return True


def _same(value: Any, wanted: Scalar) -> bool:
    # true is not 1 here, whatever Python says, so a filter means what JSON means.
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    return bool(value == wanted)


def to_score(metric: Metric, distance: float) -> float:
    if metric == "cosine":
        return 1.0 - distance
    return -distance


def as_blob(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()

"""Vectors kept in the platform database (SQLite or PostgreSQL), searched exactly with numpy.

Works on any database the platform runs on, with no extension: the items of a collection are
read (tenant-scoped, like every query) and compared in a worker thread. Exact, so recall is
always 1; the cost grows with the collection (about 10 ms for 100k 384-dimension vectors on
one core), which is why a deployment at scale wants an index (pgvector) behind this interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select

from auterity.core.database import Database
from auterity.core.tenancy import bind_tenant
from auterity.integrations.vectors.models import VectorItem
from auterity.integrations.vectors.store import (
    Filter,
    Hit,
    Item,
    Space,
    as_blob,
    matches,
    to_score,
)


class DatabaseStore:
    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, space: Space, items: Sequence[Item]) -> None:
        by_id = {item.id: item for item in items}  # the last of repeated ids wins
        async with self.db.session() as session:
            bind_tenant(session, space.tenant_id)
            existing = (
                await session.scalars(
                    select(VectorItem).where(
                        VectorItem.collection_id == space.collection_id,
                        VectorItem.item_id.in_(list(by_id)),
                    )
                )
            ).all()
            for row in existing:
                item = by_id.pop(row.item_id)
                row.text, row.meta, row.embedding = item.text, item.metadata, as_blob(item.vector)
            for item in by_id.values():
                session.add(
                    VectorItem(
                        collection_id=space.collection_id,
                        item_id=item.id,
                        text=item.text,
                        meta=item.metadata,
                        embedding=as_blob(item.vector),
                    )
                )

    async def delete(self, space: Space, ids: Sequence[str]) -> int:
        async with self.db.session() as session:
            bind_tenant(session, space.tenant_id)
            result = await session.execute(
                delete(VectorItem).where(
                    VectorItem.collection_id == space.collection_id,
                    VectorItem.item_id.in_(list(ids)),
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def query(
        self, space: Space, vector: npt.NDArray[np.float32], k: int, where: Filter
    ) -> list[Hit]:
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, space.tenant_id)
            rows = (
                await session.execute(
                    select(VectorItem.item_id, VectorItem.embedding, VectorItem.meta).where(
                        VectorItem.collection_id == space.collection_id
                    )
                )
            ).all()
            candidates = [row for row in rows if matches(row.meta or {}, where)]
            if not candidates:
                return []
            blobs = [row.embedding for row in candidates]
            order, distances = await asyncio.to_thread(_nearest, blobs, vector, space, k)
            chosen = [candidates[i] for i in order]
            found = await session.execute(
                select(VectorItem.item_id, VectorItem.text).where(
                    VectorItem.collection_id == space.collection_id,
                    VectorItem.item_id.in_([row.item_id for row in chosen]),
                )
            )
            texts = {row.item_id: row.text for row in found.all()}
        return [
            Hit(
                id=row.item_id,
                distance=float(distance),
                score=to_score(space.metric, float(distance)),
                text=texts.get(row.item_id),
                metadata=row.meta or {},
            )
            for row, distance in zip(chosen, distances, strict=True)
        ]

    async def count(self, space: Space) -> int:
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, space.tenant_id)
            total = await session.scalar(
                select(func.count())
                .select_from(VectorItem)
                .where(VectorItem.collection_id == space.collection_id)
            )
            return int(total or 0)

    async def drop(self, space: Space) -> None:
        async with self.db.session() as session:
            bind_tenant(session, space.tenant_id)
            await session.execute(
                delete(VectorItem).where(VectorItem.collection_id == space.collection_id)
            )

    async def aclose(self) -> None:
        """The database belongs to the runtime."""


def _nearest(
    blobs: list[bytes], query: npt.NDArray[np.float32], space: Space, k: int
) -> tuple[list[int], list[float]]:
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), space.dimensions)
    distances = distances_to(matrix, query, space.metric)
    k = min(k, len(blobs))
    top = np.argpartition(distances, k - 1)[:k]
    top = top[np.argsort(distances[top], kind="stable")]
    return [int(i) for i in top], [float(distances[i]) for i in top]


def distances_to(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32], metric: str
) -> npt.NDArray[np.float64]:
    """Distances from each row of `matrix` to `query`, in the stores' one convention."""
    rows = matrix.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        return np.asarray(np.linalg.norm(rows - q, axis=1))
    dots = rows @ q
    if metric == "dot":
        return np.asarray(-dots)
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(q)
    return np.asarray(1.0 - dots / np.where(norms == 0, 1.0, norms))

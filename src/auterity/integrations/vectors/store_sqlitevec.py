"""Vectors in a SQLite file of their own, compared by sqlite-vec's SIMD distance functions.

The platform's own SQLite connection comes from Python's `sqlite3`, which on many systems
cannot load extensions; this store opens its file with `pysqlite3` (a SQLite built to load
them) and loads sqlite-vec into it. Search is exact (k nearest by a full scan in C, with the
metadata filter in the same query). Calls run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pysqlite3.dbapi2 as sqlite3
import sqlite_vec

from auterity.integrations.vectors.store import Filter, Hit, Item, Space, as_blob, to_score

T = TypeVar("T")
SCHEMA = """
CREATE TABLE IF NOT EXISTS vector_items (
    tenant_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL,
    norm2 REAL NOT NULL,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;
"""
# sqlite-vec has no dot product; it follows from the L2 distance and the two norms:
# a.b = (|a|^2 + |b|^2 - |a-b|^2) / 2.
DISTANCE = {
    "cosine": "vec_distance_cosine(embedding, :query)",
    "l2": "vec_distance_l2(embedding, :query)",
    "dot": "-((norm2 + :query_norm2 - pow2(vec_distance_l2(embedding, :query))) / 2)",
}


class SqliteVecStore:
    name = "sqlite-vec"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: Any = None

    def _connect(self) -> Any:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), check_same_thread=False)
            connection.enable_load_extension(True)
            sqlite_vec.load(connection)
            connection.enable_load_extension(False)
            connection.create_function("pow2", 1, lambda x: x * x, deterministic=True)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    async def _run(self, work: Callable[[Any], T]) -> T:
        def locked() -> T:
            with self._lock:
                connection = self._connect()
                with connection:  # one transaction: committed, or rolled back on error
                    return work(connection)

        return await asyncio.to_thread(locked)

    async def upsert(self, space: Space, items: Sequence[Item]) -> None:
        rows = [
            (
                str(space.tenant_id),
                str(space.collection_id),
                item.id,
                item.text,
                json.dumps(item.metadata, separators=(",", ":")),
                as_blob(item.vector),
                float(np.dot(item.vector, item.vector)),
            )
            for item in items
        ]
        await self._run(
            lambda c: c.executemany(
                "INSERT INTO vector_items VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (collection_id, id) DO UPDATE SET text = excluded.text, "
                "metadata = excluded.metadata, embedding = excluded.embedding, "
                "norm2 = excluded.norm2",
                rows,
            )
        )

    async def delete(self, space: Space, ids: Sequence[str]) -> int:
        def work(connection: Any) -> int:
            deleted = 0
            for item_id in ids:
                cursor = connection.execute(
                    "DELETE FROM vector_items WHERE tenant_id = ? AND collection_id = ? AND id = ?",
                    (str(space.tenant_id), str(space.collection_id), item_id),
                )
                deleted += cursor.rowcount
            return deleted

        return await self._run(work)

    async def query(
        self, space: Space, vector: npt.NDArray[np.float32], k: int, where: Filter
    ) -> list[Hit]:
        conditions, params = _filter_sql(where)
        params.update(
            tenant=str(space.tenant_id),
            collection=str(space.collection_id),
            query=as_blob(vector),
            query_norm2=float(np.dot(vector, vector)),
            k=k,
        )
        sql = (
            f"SELECT id, text, metadata, {DISTANCE[space.metric]} AS distance "  # noqa: S608
            "FROM vector_items WHERE tenant_id = :tenant AND collection_id = :collection"
            + "".join(f" AND {condition}" for condition in conditions)
            + " ORDER BY distance LIMIT :k"
        )
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [
            Hit(
                id=row[0],
                distance=float(row[3]),
                score=to_score(space.metric, float(row[3])),
                text=row[1],
                metadata=json.loads(row[2]),
            )
            for row in rows
        ]

    async def count(self, space: Space) -> int:
        row = await self._run(
            lambda c: c.execute(
                "SELECT count(*) FROM vector_items WHERE tenant_id = ? AND collection_id = ?",
                (str(space.tenant_id), str(space.collection_id)),
            ).fetchone()
        )
        return int(row[0])

    async def drop(self, space: Space) -> None:
        await self._run(
            lambda c: c.execute(
                "DELETE FROM vector_items WHERE tenant_id = ? AND collection_id = ?",
                (str(space.tenant_id), str(space.collection_id)),
            )
        )

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None

        await asyncio.to_thread(close)


def _filter_sql(where: Filter) -> tuple[list[str], dict[str, Any]]:
    """SQL for `store.matches`: the same equality, with JSON types kept apart (true is not 1)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    for index, (key, wanted) in enumerate(where.items()):
        path = f"path{index}"
        params[path] = "$." + json.dumps(key)  # a quoted member name: any key, no injection
        options = wanted if isinstance(wanted, list) else [wanted]
        alternatives = []
        for number, option in enumerate(options):
            name = f"value{index}_{number}"
            if isinstance(option, bool):
                alternatives.append(
                    f"json_type(metadata, :{path}) = '{'true' if option else 'false'}'"
                )
            elif isinstance(option, int | float):
                params[name] = option
                alternatives.append(
                    f"(json_type(metadata, :{path}) IN ('integer', 'real') "
                    f"AND json_extract(metadata, :{path}) = :{name})"
                )
            else:
                params[name] = option
                alternatives.append(
                    f"(json_type(metadata, :{path}) = 'text' "
                    f"AND json_extract(metadata, :{path}) = :{name})"
                )
        conditions.append("(" + (" OR ".join(alternatives) or "0") + ")")
    return conditions, params

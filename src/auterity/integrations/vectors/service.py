"""Vector collections of a tenant: create, list, drop, upsert documents, search, delete.

Which collections exist, and whose, lives in the platform database (tenant-scoped like every
table); their items live in a `VectorStore` (`store_sqlitevec`, `store_database`), chosen by
settings when the collection is made and recorded with it. Text is embedded through the
`Embedder` the platform gives (RelayCore), with the collection's model.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from auterity.core.database import Database
from auterity.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ProviderUnavailable,
    ServiceUnavailable,
    ValidationFailed,
)
from auterity.core.settings import Settings
from auterity.core.tenancy import bind_tenant
from auterity.integrations.vectors.embedding import Attribution, Embedder, EmbeddingFailed
from auterity.integrations.vectors.models import VectorCollection
from auterity.integrations.vectors.schemas import (
    CollectionCreate,
    CollectionOut,
    DocumentIn,
    Match,
    QueryRequest,
    QueryResult,
    UpsertResult,
)
from auterity.integrations.vectors.store import Item, Space, VectorStore
from auterity.integrations.vectors.store_database import DatabaseStore
from auterity.integrations.vectors.store_sqlitevec import SqliteVecStore

EMBED_BATCH = 64


class EmbeddingUnavailable(ProviderUnavailable):
    """The collection's text could not be embedded (no gateway, or the gateway failed)."""

    slug = "embedding-unavailable"
    title = "Embedding unavailable"


class DimensionMismatch(ValidationFailed):
    slug = "vector-dimension-mismatch"
    title = "Vector dimension mismatch"


class VectorService:
    def __init__(
        self,
        db: Database,
        stores: dict[str, Callable[[], VectorStore]],
        default_store: str,
        *,
        embedder: Embedder | None = None,
        max_dimensions: int = 4096,
    ) -> None:
        """`stores`: how to open each store a collection may be kept in (opened on first use)."""
        self.db = db
        self.embedder = embedder
        self.default_store = default_store
        self.max_dimensions = max_dimensions
        self._factories = stores
        self._stores: dict[str, VectorStore] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, embedder: Embedder | None = None
    ) -> VectorService:
        chosen = settings.vector_store
        if chosen == "auto":
            chosen = "sqlite-vec" if settings.database_url.startswith("sqlite") else "database"
        path = settings.data_dir / "vectors.sqlite3"
        return cls(
            db,
            {"sqlite-vec": lambda: SqliteVecStore(path), "database": lambda: DatabaseStore(db)},
            chosen,
            embedder=embedder,
            max_dimensions=settings.vector_max_dimensions,
        )

    def store(self, name: str) -> VectorStore:
        store = self._stores.get(name)
        if store is None:
            factory = self._factories.get(name)
            if factory is None:
                raise ServiceUnavailable(f"vector store {name!r} is not available in this process")
            store = self._stores[name] = factory()
        return store

    async def aclose(self) -> None:
        stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            await store.aclose()

    # -- collections --------------------------------------------------------------------

    async def create_collection(
        self, tenant_id: uuid.UUID, spec: CollectionCreate
    ) -> CollectionOut:
        if spec.dimensions > self.max_dimensions:
            raise ValidationFailed(
                f"dimensions may be at most {self.max_dimensions} (AUTERITY_VECTOR_MAX_DIMENSIONS)",
                errors=[FieldError("/dimensions", f"{spec.dimensions} is over the limit")],
            )
        try:
            async with self.db.session() as session:
                bind_tenant(session, tenant_id)
                row = VectorCollection(
                    name=spec.name,
                    dimensions=spec.dimensions,
                    metric=spec.metric,
                    model=spec.model,
                    store=self.default_store,
                    description=spec.description,
                )
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a vector collection named {spec.name!r} already exists") from None
        return _out(row, 0)

    async def list_collections(self, tenant_id: uuid.UUID) -> list[CollectionOut]:
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            rows = (await session.scalars(select(VectorCollection).order_by("name"))).all()
        return [_out(row, await self.store(row.store).count(_space(row))) for row in rows]

    async def get_collection(self, tenant_id: uuid.UUID, name: str) -> CollectionOut:
        row = await self.collection(tenant_id, name)
        return _out(row, await self.store(row.store).count(_space(row)))

    async def collection(self, tenant_id: uuid.UUID, name: str) -> VectorCollection:
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            row = await session.scalar(
                select(VectorCollection).where(VectorCollection.name == name)
            )
        if row is None:
            raise NotFound(f"no vector collection named {name!r}")
        return row

    async def delete_collection(self, tenant_id: uuid.UUID, name: str) -> None:
        row = await self.collection(tenant_id, name)
        await self.store(row.store).drop(_space(row))
        async with self.db.session() as session:
            bind_tenant(session, tenant_id)
            found = await session.get(VectorCollection, row.id)
            if found is not None:
                await session.delete(found)

    # -- documents ----------------------------------------------------------------------

    async def upsert(
        self,
        tenant_id: uuid.UUID,
        name: str,
        documents: Sequence[DocumentIn],
        attribution: Attribution | None = None,
    ) -> UpsertResult:
        row = await self.collection(tenant_id, name)
        vectors: list[npt.NDArray[np.float32] | None] = []
        for index, document in enumerate(documents):
            given = document.vector
            vectors.append(
                None if given is None else _checked(row, given, f"/documents/{index}/vector")
            )
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        cost = 0
        if missing:
            texts = [documents[i].text or "" for i in missing]
            embedded, cost = await self._embed(tenant_id, row, texts, attribution)
            for index, vector in zip(missing, embedded, strict=True):
                vectors[index] = _checked(row, vector, f"/documents/{index}/text", embedded=True)
        items = [
            Item(document.id, vector, document.text, document.metadata)
            for document, vector in zip(documents, vectors, strict=True)
            if vector is not None
        ]
        await self.store(row.store).upsert(_space(row), items)
        return UpsertResult(
            collection=row.name,
            upserted=len({item.id for item in items}),
            ids=list(dict.fromkeys(item.id for item in items)),
            embedded=len(missing),
            cost_usd=cost / 1_000_000,
        )

    async def query(
        self,
        tenant_id: uuid.UUID,
        name: str,
        query: QueryRequest,
        attribution: Attribution | None = None,
    ) -> QueryResult:
        row = await self.collection(tenant_id, name)
        cost = 0
        if query.vector is not None:
            vector = _checked(row, query.vector, "/vector")
        else:
            embedded, cost = await self._embed(tenant_id, row, [query.text or ""], attribution)
            vector = _checked(row, embedded[0], "/text", embedded=True)
        hits = await self.store(row.store).query(_space(row), vector, query.top_k, query.filter)
        return QueryResult(
            collection=row.name,
            matches=[
                Match(
                    id=hit.id,
                    score=hit.score,
                    distance=hit.distance,
                    text=hit.text,
                    metadata=hit.metadata,
                )
                for hit in hits
            ],
            cost_usd=cost / 1_000_000,
        )

    async def delete_documents(self, tenant_id: uuid.UUID, name: str, ids: Sequence[str]) -> int:
        row = await self.collection(tenant_id, name)
        return await self.store(row.store).delete(_space(row), list(dict.fromkeys(ids)))

    async def _embed(
        self,
        tenant_id: uuid.UUID,
        row: VectorCollection,
        texts: list[str],
        attribution: Attribution | None,
    ) -> tuple[list[list[float]], int]:
        if row.model is None:
            raise ValidationFailed(
                f"collection {row.name!r} has no embedding model, so text cannot be embedded: "
                "give vectors, or create the collection with `model`",
                errors=[FieldError("/text", "needs the collection's embedding model")],
            )
        if self.embedder is None:
            raise EmbeddingUnavailable(
                "no RelayCore is reachable to embed text: serve relaycore in the same process "
                "(`auterity up`) or set AUTERITY_RELAY_URL, or give vectors"
            )
        vectors: list[list[float]] = []
        cost = 0
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            try:
                embedded = await self.embedder.embed(
                    tenant_id, row.model, batch, attribution or Attribution()
                )
            except EmbeddingFailed as exc:
                raise EmbeddingUnavailable(
                    f"embedding with {row.model!r} failed: {exc.message}",
                    extra={"upstream_status": exc.status, "kind": exc.kind},
                ) from None
            if len(embedded.vectors) != len(batch):
                raise EmbeddingUnavailable(
                    f"{row.model!r} returned {len(embedded.vectors)} embeddings for "
                    f"{len(batch)} texts"
                )
            vectors.extend(embedded.vectors)
            cost += embedded.cost_micros
        return vectors, cost


def _space(row: VectorCollection) -> Space:
    return Space(row.tenant_id, row.id, row.dimensions, row.metric)  # type: ignore[arg-type]


def _out(row: VectorCollection, count: int) -> CollectionOut:
    return CollectionOut(
        name=row.name,
        dimensions=row.dimensions,
        metric=row.metric,
        model=row.model,
        store=row.store,
        description=row.description,
        count=count,
        created_at=row.created_at,
    )


def _checked(
    row: VectorCollection, vector: Sequence[float], pointer: str, *, embedded: bool = False
) -> npt.NDArray[np.float32]:
    if len(vector) != row.dimensions:
        source = f"the model {row.model!r} gives" if embedded else "got"
        raise DimensionMismatch(
            f"collection {row.name!r} holds vectors of {row.dimensions} dimensions; "
            f"{source} {len(vector)}",
            errors=[
                FieldError(
                    pointer,
                    f"expected {row.dimensions} dimensions, got {len(vector)}",
                    "use the collection's embedding model, or a collection made for this one"
                    if embedded
                    else None,
                )
            ],
            extra={"expected": row.dimensions, "got": len(vector)},
        )
    array = np.asarray(vector, dtype=np.float32)
    if row.metric == "cosine" and not np.any(array):
        raise ValidationFailed(
            "a zero vector has no direction, so it has no cosine distance",
            errors=[FieldError(pointer, "all zeros")],
        )
    return array

"""API shapes of the vector collections, shared by the routes and the workflow actions."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from auterity.integrations.vectors.store import Filter, Metric

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CollectionName = Annotated[
    str, Field(pattern=NAME_PATTERN, description="Letters, digits, `_`, `.`, `-`; 100 at most.")
]
FILTER_KEY = re.compile(r"^[^\x00-\x1f]{1,200}$")
MAX_DOCUMENTS = 1000
MAX_TOP_K = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionCreate(Strict):
    name: CollectionName
    dimensions: int = Field(ge=1, description="Length of every vector in the collection.")
    metric: Metric = "cosine"
    model: str | None = Field(
        default=None,
        max_length=200,
        description="Embedding model (through RelayCore) for documents and queries given as "
        "text, e.g. `local/all-minilm-l6-v2` (384 dimensions).",
    )
    description: str | None = Field(default=None, max_length=2000)


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    dimensions: int
    metric: Metric
    model: str | None
    store: str
    description: str | None
    count: int = Field(description="Documents in the collection.")
    created_at: datetime


class CollectionList(BaseModel):
    items: list[CollectionOut]


def _check_vector(vector: list[float]) -> list[float]:
    if not vector:
        raise ValueError("a vector needs at least one number")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError("a vector may hold only finite numbers (no NaN or infinity)")
    return vector


Vector = Annotated[list[float], AfterValidator(_check_vector)]


class DocumentIn(Strict):
    id: str = Field(min_length=1, max_length=200, description="Upserting an id replaces it.")
    text: str | None = Field(default=None, description="Embedded unless `vector` is given.")
    vector: Vector | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _text_or_vector(self) -> DocumentIn:
        if self.text is None and self.vector is None:
            raise ValueError("give `text` (to embed), `vector`, or both")
        return self


class UpsertRequest(Strict):
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS)


class UpsertResult(BaseModel):
    collection: str
    upserted: int
    ids: list[str]
    embedded: int = Field(description="Documents whose vector was made from their text.")
    cost_usd: float


def _check_filter(where: Filter) -> Filter:
    for key in where:
        if not FILTER_KEY.match(key):
            raise ValueError(f"{key!r} is not a metadata key (1-200 printable characters)")
    return where


class QueryRequest(Strict):
    text: str | None = Field(default=None, min_length=1, description="Embedded, then searched.")
    vector: Vector | None = None
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    filter: Annotated[Filter, AfterValidator(_check_filter)] = Field(
        default_factory=dict,
        description="Metadata that must match: `{key: value}` equals, `{key: [a, b]}` any of.",
    )

    @model_validator(mode="after")
    def _one_query(self) -> QueryRequest:
        if (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of `text` or `vector`")
        return self


class Match(BaseModel):
    id: str
    score: float = Field(description="Higher is nearer (cosine similarity, dot, -L2).")
    distance: float = Field(description="Lower is nearer.")
    text: str | None
    metadata: dict[str, Any]


class QueryResult(BaseModel):
    collection: str
    matches: list[Match]
    cost_usd: float


class DeleteRequest(Strict):
    ids: list[str] = Field(min_length=1, max_length=MAX_DOCUMENTS)


class DeleteResult(BaseModel):
    deleted: int

"""`vector.upsert`, `vector.search` and `text.chunk`: thin actions over the vector collections.

Text is embedded through RelayCore with the collection's model, and the cost is booked to the
workflow, run and step like any model call.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.core.errors import AuterityError, Conflict, NotFound
from auterity.integrations.vectors import (
    Attribution,
    CollectionCreate,
    DocumentIn,
    EmbeddingUnavailable,
    QueryRequest,
    QueryResult,
    UpsertResult,
    VectorService,
    chunk_text,
)
from auterity.integrations.vectors.schemas import MAX_DOCUMENTS, CollectionName
from auterity.integrations.vectors.store import Filter, Metric


class NewCollection(BaseModel):
    """How to create the collection when it does not exist yet."""

    dimensions: int | None = Field(
        default=None, ge=1, description="Unset: the length of the first document's vector."
    )
    metric: Metric = "cosine"
    model: str | None = None


class VectorUpsertInput(ActionInput):
    collection: CollectionName
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS)
    vectors: list[list[float]] | None = Field(
        default=None,
        description="The documents' vectors in order (e.g. `llm.embed`'s `vectors`), used "
        "where a document has none of its own.",
    )
    create: NewCollection | None = Field(
        default=None, description="Create the collection first if it does not exist."
    )

    @model_validator(mode="after")
    def _paired(self) -> VectorUpsertInput:
        if self.vectors is not None:
            if len(self.vectors) != len(self.documents):
                raise ValueError(
                    f"`vectors` has {len(self.vectors)} entries for {len(self.documents)} "
                    "documents; give one per document, in order"
                )
            self.documents = [
                document
                if document.vector is not None
                else document.model_copy(update={"vector": vector})
                for document, vector in zip(self.documents, self.vectors, strict=True)
            ]
        return self


class VectorUpsert(Action[VectorUpsertInput, UpsertResult]):
    name = "vector.upsert"
    description = "Adds or replaces documents (by id) in a vector collection; text is embedded."
    Input = VectorUpsertInput
    Output = UpsertResult
    idempotent = True
    idempotency = "not needed: upserting the same ids again replaces them with the same values"

    async def run(self, ctx: ActionContext, params: VectorUpsertInput) -> UpsertResult:
        vectors = _vectors(ctx)
        try:
            if params.create is not None:
                await _ensure_collection(ctx, vectors, params)
            result = await vectors.upsert(
                ctx.tenant_id, params.collection, params.documents, _attribution(ctx)
            )
        except AuterityError as exc:
            raise vector_error(exc) from None
        ctx.add_cost(round(result.cost_usd * 1_000_000))
        ctx.log(
            f"{result.upserted} document(s) into {params.collection}, {result.embedded} embedded"
        )
        return result


async def _ensure_collection(
    ctx: ActionContext, vectors: VectorService, params: VectorUpsertInput
) -> None:
    create = params.create
    assert create is not None
    try:
        await vectors.collection(ctx.tenant_id, params.collection)
        return
    except NotFound:
        pass
    dimensions = create.dimensions or next(
        (len(d.vector) for d in params.documents if d.vector is not None), None
    )
    if dimensions is None:
        raise ActionError(
            f"collection {params.collection!r} does not exist: give `create.dimensions` "
            "(or documents with vectors) to create it",
            kind="client_error",
        )
    spec = CollectionCreate(
        name=params.collection, dimensions=dimensions, metric=create.metric, model=create.model
    )
    try:
        await vectors.create_collection(ctx.tenant_id, spec)
        ctx.log(f"created collection {params.collection} ({dimensions} dimensions)")
    except Conflict:
        pass  # another step made it first


class VectorSearchInput(ActionInput):
    collection: CollectionName
    text: str | None = Field(default=None, min_length=1)
    vector: list[float] | None = None
    top_k: int = Field(default=5, ge=1, le=100)
    filter: Filter = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_query(self) -> VectorSearchInput:
        if (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of `text` or `vector`")
        return self


class VectorSearch(Action[VectorSearchInput, QueryResult]):
    name = "vector.search"
    description = "The documents of a vector collection nearest to a text or a vector."
    Input = VectorSearchInput
    Output = QueryResult
    idempotent = True
    idempotency = "not needed: a search changes nothing"

    async def run(self, ctx: ActionContext, params: VectorSearchInput) -> QueryResult:
        vectors = _vectors(ctx)
        try:
            query = QueryRequest.model_validate(params.model_dump(exclude={"collection"}))
            result = await vectors.query(ctx.tenant_id, params.collection, query, _attribution(ctx))
        except AuterityError as exc:
            raise vector_error(exc) from None
        ctx.add_cost(round(result.cost_usd * 1_000_000))
        return result


class TextChunkInput(ActionInput):
    text: str | None = Field(default=None, description="One document (or `texts`, `documents`).")
    texts: list[str] | None = Field(default=None, description="Several documents' text ...")
    ids: list[str] | None = Field(
        default=None, description="... and their ids in order (e.g. the URLs they came from)."
    )
    documents: list[dict[str, Any]] | None = Field(
        default=None,
        description="Documents as {id, text, metadata?}: each chunk keeps the id and metadata.",
    )
    size: int = Field(default=1000, ge=1, le=100_000, description="Chunk length in `unit`s.")
    overlap: int = Field(default=100, ge=0, description="How much each chunk repeats.")
    unit: Literal["characters", "tokens"] = "characters"
    id_prefix: str = Field(default="doc", description="Id of `text` (chunks: `doc#0`, ...).")

    @model_validator(mode="after")
    def _valid(self) -> TextChunkInput:
        given = [self.text is not None, self.texts is not None, self.documents is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of `text`, `texts` or `documents`")
        if self.ids is not None and (self.texts is None or len(self.ids) != len(self.texts)):
            raise ValueError("`ids` goes with `texts`, one id per text")
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be less than size ({self.size})")
        for index, document in enumerate(self.documents or []):
            if not isinstance(document.get("text"), str):
                raise ValueError(f"documents[{index}] needs a `text` string")
        return self


class TextChunkOutput(BaseModel):
    chunks: list[dict[str, Any]] = Field(
        description="{id, text, metadata}: ready to give to vector.upsert as `documents`."
    )
    count: int


class TextChunk(Action[TextChunkInput, TextChunkOutput]):
    name = "text.chunk"
    description = "Splits documents into overlapping chunks (by characters or tokens)."
    Input = TextChunkInput
    Output = TextChunkOutput

    async def run(self, ctx: ActionContext, params: TextChunkInput) -> TextChunkOutput:
        if params.documents is not None:
            documents = params.documents
        elif params.texts is not None:
            ids = params.ids or [f"{params.id_prefix}{i}" for i in range(len(params.texts))]
            documents = [{"id": i, "text": t} for i, t in zip(ids, params.texts, strict=True)]
        else:
            documents = [{"id": params.id_prefix, "text": params.text}]
        chunks: list[dict[str, Any]] = []
        for index, document in enumerate(documents):
            source = str(document.get("id") or f"{params.id_prefix}{index}")
            metadata = dict(document.get("metadata") or {})
            for chunk in chunk_text(
                document["text"], size=params.size, overlap=params.overlap, unit=params.unit
            ):
                chunks.append(
                    {
                        "id": f"{source}#{chunk.index}",
                        "text": chunk.text,
                        "metadata": {**metadata, "source": source, "chunk": chunk.index},
                    }
                )
        return TextChunkOutput(chunks=chunks, count=len(chunks))


def _vectors(ctx: ActionContext) -> VectorService:
    if ctx.vectors is None:
        raise ActionError("vector collections are not configured for this engine")
    return ctx.vectors


def _attribution(ctx: ActionContext) -> Attribution:
    return Attribution(ctx.workflow, str(ctx.run_id), ctx.step_id)


def vector_error(exc: AuterityError) -> ActionError:
    kind = "upstream_error" if isinstance(exc, EmbeddingUnavailable) else "client_error"
    details: dict[str, Any] = dict(exc.extra)
    if exc.errors:
        details["errors"] = [error.as_dict() for error in exc.errors]
    return ActionError(exc.detail, kind=kind, details=details or None)

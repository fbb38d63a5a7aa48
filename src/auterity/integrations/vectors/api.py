"""Routes under `/api/vectors/collections`: collections of the caller's tenant and their
documents (upsert, query, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from auterity.core.errors import NotFound, ServiceUnavailable
from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.integrations.vectors.schemas import (
    CollectionCreate,
    CollectionList,
    CollectionOut,
    DeleteRequest,
    DeleteResult,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
)
from auterity.integrations.vectors.service import VectorService

vectors = APIRouter(prefix="/api/vectors", tags=["vectors"])

Reader = Annotated[Principal, require(Permission.WORKFLOW_READ)]
Writer = Annotated[Principal, require(Permission.WORKFLOW_WRITE)]


async def get_vectors(request: Request) -> VectorService:
    service: VectorService | None = getattr(request.app.state, "vectors", None)
    if service is None:
        raise ServiceUnavailable("vector collections run with AutoMatrix; not served here")
    return service


Vectors = Annotated[VectorService, Depends(get_vectors)]


@vectors.post("/collections", status_code=201, response_model=CollectionOut)
async def create_collection(
    body: CollectionCreate, principal: Writer, service: Vectors
) -> CollectionOut:
    """A new, empty collection: its vectors' length, metric and embedding model are fixed."""
    return await service.create_collection(principal.tenant_id, body)


@vectors.get("/collections", response_model=CollectionList)
async def list_collections(principal: Reader, service: Vectors) -> CollectionList:
    return CollectionList(items=await service.list_collections(principal.tenant_id))


@vectors.get("/collections/{name}", response_model=CollectionOut)
async def get_collection(name: str, principal: Reader, service: Vectors) -> CollectionOut:
    return await service.get_collection(principal.tenant_id, name)


@vectors.delete("/collections/{name}", status_code=204)
async def delete_collection(name: str, principal: Writer, service: Vectors) -> Response:
    """The collection and every document in it."""
    await service.delete_collection(principal.tenant_id, name)
    return Response(status_code=204)


@vectors.post("/collections/{name}/documents", response_model=UpsertResult)
async def upsert_documents(
    name: str, body: UpsertRequest, principal: Writer, service: Vectors
) -> UpsertResult:
    """Add or replace documents by id; text without a vector is embedded with the
    collection's model through RelayCore (accounted to this tenant)."""
    return await service.upsert(principal.tenant_id, name, body.documents)


@vectors.post("/collections/{name}/query", response_model=QueryResult)
async def query_collection(
    name: str, body: QueryRequest, principal: Reader, service: Vectors
) -> QueryResult:
    """The `top_k` nearest documents to a text or a vector, among those whose metadata match."""
    return await service.query(principal.tenant_id, name, body)


@vectors.post("/collections/{name}/documents/delete", response_model=DeleteResult)
async def delete_documents(
    name: str, body: DeleteRequest, principal: Writer, service: Vectors
) -> DeleteResult:
    """Delete documents by id; ids that are not there are ignored (and not counted)."""
    return DeleteResult(deleted=await service.delete_documents(principal.tenant_id, name, body.ids))


@vectors.delete("/collections/{name}/documents/{document_id}", status_code=204)
async def delete_document(
    name: str, document_id: str, principal: Writer, service: Vectors
) -> Response:
    if not await service.delete_documents(principal.tenant_id, name, [document_id]):
        raise NotFound(f"collection {name!r} has no document {document_id!r}")
    return Response(status_code=204)

"""Routes under `/api/secrets`: write, read (audited), list (names only) and delete secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.secrets.schemas import (
    SecretList,
    SecretSummary,
    SecretValue,
    SecretWrite,
    SecretWritten,
)
from auterity.secrets.service import SecretService

router = APIRouter(prefix="/api/secrets", tags=["secrets"])

Reader = Annotated[Principal, require(Permission.SECRET_READ)]
Writer = Annotated[Principal, require(Permission.SECRET_WRITE)]


async def get_secret_service(request: Request) -> SecretService:
    service: SecretService = request.app.state.secrets
    return service


Secrets = Annotated[SecretService, Depends(get_secret_service)]


@router.get("", response_model=SecretList)
async def list_secrets(principal: Reader, secrets: Secrets) -> SecretList:
    """This tenant's secrets: names, versions and times, never values."""
    infos = await secrets.list(principal)
    return SecretList(items=[SecretSummary.model_validate(info) for info in infos])


@router.get("/{name}", response_model=SecretValue)
async def read_secret(
    name: str,
    principal: Reader,
    secrets: Secrets,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="A past version.")] = None,
) -> SecretValue:
    """The value of a secret (the current version, or `version`). Every read is audited."""
    revealed = await secrets.reveal(principal, name, version)
    response.headers["Cache-Control"] = "no-store"
    return SecretValue(name=name, version=revealed.version, value=revealed.value)


@router.put("/{name}", response_model=SecretWritten)
async def write_secret(
    name: str, body: SecretWrite, principal: Writer, secrets: Secrets
) -> SecretWritten:
    """Store a new version of a secret (creating it if new)."""
    version = await secrets.write(principal, name, body.value.get_secret_value())
    return SecretWritten(name=name, version=version)


@router.delete("/{name}", status_code=204)
async def delete_secret(name: str, principal: Writer, secrets: Secrets) -> Response:
    """Delete a secret and all its versions."""
    await secrets.delete(principal, name)
    return Response(status_code=204)


routers = (router,)

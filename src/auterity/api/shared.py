"""Routes every service serves: metrics and the service index."""

from __future__ import annotations

from fastapi import APIRouter, Response

from auterity import __version__
from auterity.core import metrics
from auterity.core.deps import RuntimeDep

router = APIRouter(tags=["platform"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(runtime: RuntimeDep) -> Response:
    pool = runtime.db.pool_status()
    metrics.DB_POOL_CHECKED_OUT.set(pool["checked_out"])
    metrics.DB_POOL_SIZE.set(pool["size"])
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@router.get("/api", summary="What this process serves")
async def index(runtime: RuntimeDep) -> dict[str, object]:
    return {
        "name": "auterity",
        "version": __version__,
        "services": list(runtime.services),
        "docs": "/docs",
        "openapi": "/openapi.json",
    }

"""`GET /api/relay/usage`: gateway usage by day, model, key and/or workflow, as JSON or CSV."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from starlette.responses import Response

from auterity.core.deps import runtime_of
from auterity.identity.deps import TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.usage.reports import Dimension, UsageFilter, aggregate, to_csv
from auterity.relaycore.usage.schemas import UsageReport, UsageRow

router = APIRouter(prefix="/api/relay/usage", tags=["relay usage"])
RelayAdmin = Annotated[Principal, require(Permission.RELAY_ADMIN)]


@router.get(
    "",
    response_model=UsageReport,
    responses={200: {"content": {"text/csv": {}}}},
)
async def usage_report(
    request: Request,
    principal: RelayAdmin,
    session: TenantSession,
    group_by: Annotated[list[Dimension], Query(description="Repeat to group by several.")] = [],  # noqa: B006
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    api_key_id: uuid.UUID | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    run: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    format: Literal["json", "csv"] | None = None,
) -> Response | UsageReport:
    """Sums of requests, tokens and cost per group; `Accept: text/csv` or `format=csv` for CSV."""
    dimensions = list(dict.fromkeys(group_by))
    rows = await aggregate(
        session,
        dimensions,
        UsageFilter(
            since=since,
            until=until,
            model=model,
            api_key_id=api_key_id,
            workflow=workflow,
            run=run,
            status=status,
        ),
        is_sqlite=runtime_of(request).db.is_sqlite,
    )
    if format == "csv" or (format is None and _wants_csv(request.headers.get("accept", ""))):
        return Response(
            to_csv(rows, dimensions),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="relay-usage.csv"'},
        )
    return UsageReport(group_by=dimensions, items=[UsageRow.model_validate(row) for row in rows])


def _wants_csv(accept: str) -> bool:
    return any(part.split(";")[0].strip() == "text/csv" for part in accept.split(","))

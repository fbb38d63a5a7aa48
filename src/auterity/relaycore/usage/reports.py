"""Usage aggregated by day, model, API key and/or workflow, over a tenant's usage rows."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from auterity.relaycore.usage.models import UsageRecord

Dimension = Literal["day", "model", "key", "workflow"]
MAX_GROUPS = 10_000
METRICS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micros",
    "cache_hits",
    "errors",
    "failovers",
    "avg_latency_ms",
)


@dataclass(frozen=True, slots=True)
class UsageFilter:
    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    api_key_id: uuid.UUID | None = None
    workflow: str | None = None
    run: str | None = None
    status: str | None = None


def _dimension(name: Dimension, is_sqlite: bool) -> ColumnElement[Any] | InstrumentedAttribute[Any]:
    if name == "day":
        if is_sqlite:
            return func.date(UsageRecord.created_at)
        return func.to_char(func.timezone("UTC", UsageRecord.created_at), "YYYY-MM-DD")
    if name == "model":
        return func.coalesce(UsageRecord.routed_model, UsageRecord.requested_model)
    if name == "key":
        return UsageRecord.api_key_id
    return UsageRecord.workflow


async def aggregate(
    session: AsyncSession,
    group_by: list[Dimension],
    where: UsageFilter,
    *,
    is_sqlite: bool,
) -> list[dict[str, Any]]:
    """One row per group (sorted by the dimensions), with sums over the filtered requests."""
    dimensions = [_dimension(name, is_sqlite).label(name) for name in group_by]
    query = select(
        *dimensions,
        func.count().label("requests"),
        func.coalesce(func.sum(UsageRecord.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(UsageRecord.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(UsageRecord.cached_tokens), 0).label("cached_tokens"),
        func.coalesce(func.sum(UsageRecord.cost_micros), 0).label("cost_micros"),
        func.sum(_flag(UsageRecord.cache_hit.is_(True))).label("cache_hits"),
        func.sum(_flag(UsageRecord.status != "ok")).label("errors"),
        func.coalesce(func.sum(UsageRecord.failover_count), 0).label("failovers"),
        func.avg(UsageRecord.latency_ms).label("avg_latency_ms"),
    )
    for condition in _conditions(where):
        query = query.where(condition)
    if dimensions:
        query = query.group_by(*dimensions).order_by(*dimensions)
    rows = (await session.execute(query.limit(MAX_GROUPS))).mappings().all()
    return [_clean(dict(row), group_by) for row in rows if row["requests"]]


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _conditions(where: UsageFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.since is not None:
        conditions.append(UsageRecord.created_at >= where.since)
    if where.until is not None:
        conditions.append(UsageRecord.created_at < where.until)
    if where.model is not None:
        conditions.append(
            func.coalesce(UsageRecord.routed_model, UsageRecord.requested_model) == where.model
        )
    if where.api_key_id is not None:
        conditions.append(UsageRecord.api_key_id == where.api_key_id)
    if where.workflow is not None:
        conditions.append(UsageRecord.workflow == where.workflow)
    if where.run is not None:
        conditions.append(UsageRecord.run == where.run)
    if where.status is not None:
        conditions.append(UsageRecord.status == where.status)
    return conditions


def _clean(row: dict[str, Any], group_by: list[Dimension]) -> dict[str, Any]:
    for name in METRICS:
        value = row[name]
        row[name] = round(float(value), 1) if name == "avg_latency_ms" else int(value or 0)
    if "key" in group_by and row["key"] is not None:
        row["key"] = str(row["key"])
    return row


def to_csv(rows: list[dict[str, Any]], group_by: list[Dimension]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [*group_by, *METRICS]
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    # Workflow names are user input: keep spreadsheets from reading them as formulas.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value

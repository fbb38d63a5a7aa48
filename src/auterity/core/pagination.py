"""Keyset pagination over UUIDv7 ids: newest first, `cursor` = the last id of the previous page.

Ids sort by creation time, so `id < cursor` is a stable page boundary that neither skips
nor repeats rows when new ones arrive between pages (unlike OFFSET).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


async def keyset_page(
    session: AsyncSession,
    query: Select[tuple[T]],
    id_column: InstrumentedAttribute[Any],
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """One page of `query`'s rows and the cursor of the next page (None on the last)."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = list(
        (await session.execute(query.order_by(id_column.desc()).limit(limit + 1))).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(getattr(rows[-1], id_column.key)) if more else None

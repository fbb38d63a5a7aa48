"""Reading one addressed row: found (in the caller's tenant, as every query is scoped), or 404."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import NotFound

T = TypeVar("T")


async def one_or_404(session: AsyncSession, query: Select[tuple[T]], missing: str) -> T:
    """The one row `query` selects, or NotFound with the `missing` message."""
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(missing)
    return row

"""FastAPI dependencies that resolve process-wide things at the edge of each route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.runtime import Runtime
from auterity.core.settings import Settings


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the
# thread pool, a thread hop (and a slot of a 40-thread limiter) on every request.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings_dep(request: Request) -> Settings:
    return runtime_of(request).settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back on error."""
    async with runtime_of(request).db.session() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]

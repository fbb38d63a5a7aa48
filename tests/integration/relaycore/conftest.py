"""RelayCore fixtures: a runtime on each database, with and without Redis, and tenants in it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from auterity.core.database import Database
from auterity.core.runtime import Runtime
from auterity.core.settings import Settings
from auterity.identity.models import Tenant
from auterity.relaycore.budgets.models import Budget
from tests.integration.identity.conftest import Account, signup

_counter = itertools.count()


@pytest.fixture(params=["sql", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    """Where counters live: the database (no Redis configured) or Redis."""
    value: str = request.param
    return value


@pytest.fixture
async def runtime(
    settings: Settings, db: Database, store: str, request: pytest.FixtureRequest
) -> AsyncIterator[Runtime]:
    if store == "redis":
        redis_url = request.getfixturevalue("redis_url")
        settings = settings.model_copy(update={"redis_url": redis_url})
    built = Runtime.build(settings, ("relaycore",), db=db)
    try:
        yield built
    finally:
        await built.close(dispose_db=False)


async def make_tenant(
    db: Database, settings: dict[str, Any] | None = None, tenant_id: uuid.UUID | None = None
) -> uuid.UUID:
    n = next(_counter)
    async with db.session() as session:
        tenant = Tenant(name=f"Tenant {n}", slug=f"t-{uuid.uuid4().hex[:12]}", settings=settings)
        if tenant_id is not None:
            tenant.id = tenant_id
        session.add(tenant)
        await session.flush()
        return tenant.id


async def make_budget(db: Database, tenant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    values: dict[str, Any] = {
        "name": "budget",
        "scope": "tenant",
        "scope_id": None,
        "period": "month",
        "mode": "hard",
        "alert_threshold_percent": 80,
        "downgrade": False,
    }
    values.update(fields)
    async with db.session() as session:
        budget = Budget(tenant_id=tenant_id, **values)
        session.add(budget)
        await session.flush()
        return budget.id


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)

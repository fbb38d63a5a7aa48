"""Usage accounting: batched writes off the request path, nothing lost on stop, the report."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.usage import UsageEntry, UsageRecorder
from auterity.relaycore.usage.models import UsageRecord
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.relaycore.conftest import make_tenant

USAGE = "/api/relay/usage"


async def count_rows(db: Database) -> int:
    async with db.session(readonly=True) as session:
        return int(await session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Wait for the background writer (it runs on its own schedule) without a fixed sleep."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def entry(tenant: uuid.UUID, **fields: Any) -> UsageEntry:
    values: dict[str, Any] = {"requested_model": "fast", "status": "ok"}
    values.update(fields)
    return UsageEntry(tenant_id=tenant, **values)


async def test_a_full_batch_is_written_without_waiting_for_the_interval(db: Database) -> None:
    tenant = await make_tenant(db)
    recorder = UsageRecorder(db, batch_size=5, flush_interval=3600)
    await recorder.start()
    try:
        for _ in range(4):
            recorder.record(entry(tenant))
        await asyncio.sleep(0.05)
        assert await count_rows(db) == 0  # below the batch size, the interval has not passed
        recorder.record(entry(tenant))

        async def written() -> bool:
            return await count_rows(db) == 5

        await until(written)
    finally:
        await recorder.stop()


async def test_rows_are_written_every_interval(db: Database) -> None:
    tenant = await make_tenant(db)
    recorder = UsageRecorder(db, batch_size=1000, flush_interval=0.05)
    await recorder.start()
    try:
        recorder.record(entry(tenant))

        async def written() -> bool:
            return await count_rows(db) == 1

        await until(written)
    finally:
        await recorder.stop()


async def test_rows_queued_just_before_stop_are_in_the_database(db: Database) -> None:
    tenant = await make_tenant(db)
    recorder = UsageRecorder(db, batch_size=400, flush_interval=3600)
    await recorder.start()
    for n in range(1_001):
        recorder.record(entry(tenant, input_tokens=n))
    await recorder.stop()
    assert recorder.queued == 0
    assert await count_rows(db) == 1_001
    async with db.session(readonly=True) as session:
        total = await session.scalar(select(func.sum(UsageRecord.input_tokens)))
    assert total == sum(range(1_001))


async def test_a_failed_write_keeps_the_rows_for_the_next_try(bare_db: Database) -> None:
    recorder = UsageRecorder(bare_db, batch_size=10, flush_interval=3600)
    tenant = uuid.uuid4()
    recorder.record(entry(tenant))
    with pytest.raises(DBAPIError):
        await recorder.flush()  # no tables yet
    assert recorder.queued == 1
    await migrate.upgrade(bare_db)
    await make_tenant(bare_db, tenant_id=tenant)
    assert await recorder.flush() == 1
    assert await count_rows(bare_db) == 1


async def test_a_row_the_database_refuses_does_not_hold_back_the_others(db: Database) -> None:
    tenant = await make_tenant(db)
    recorder = UsageRecorder(db, batch_size=10, flush_interval=3600)
    same = entry(tenant)
    recorder.record(same)
    recorder.record(entry(uuid.uuid4()))  # no such tenant: the foreign key refuses it
    recorder.record(same)  # recorded twice, stored twice
    assert await recorder.flush() == 2
    assert recorder.queued == 0
    assert await count_rows(db) == 2


async def test_the_app_writes_queued_usage_when_it_shuts_down(
    app_factory: Any, db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db)
    app = app_factory(settings=settings.model_copy(update={"relay_usage_flush_seconds": 60}))
    async with LifespanManager(app):
        relay: RelayAccounting = app.state.relay_accounting
        for _ in range(3):
            relay.complete(entry(tenant))
        assert await count_rows(db) == 0  # still queued: the interval is a minute
    assert await count_rows(db) == 3


async def _seed(app: FastAPI, owner: Account) -> tuple[uuid.UUID, uuid.UUID]:
    relay: RelayAccounting = app.state.relay_accounting
    tenant = uuid.UUID(owner.tenant_id)
    key_a, key_b = uuid.uuid4(), uuid.uuid4()
    day1 = datetime(2026, 5, 1, 23, 59, tzinfo=UTC)
    day2 = datetime(2026, 5, 2, 0, 1, tzinfo=UTC)
    rows = [
        entry(tenant, api_key_id=key_a, routed_model="gpt-4o-mini", provider="openai",
              input_tokens=100, output_tokens=20, cost_micros=150, latency_ms=100,
              workflow="=invoices", created_at=day1),
        entry(tenant, api_key_id=key_a, routed_model="gpt-4o-mini", provider="openai",
              input_tokens=50, output_tokens=10, cost_micros=75, latency_ms=300,
              created_at=day2, failover_count=1),
        entry(tenant, api_key_id=key_b, routed_model="claude-haiku", provider="anthropic",
              input_tokens=10, output_tokens=0, cost_micros=0, latency_ms=5, cache_hit=True,
              workflow="=invoices", created_at=day2),
        entry(tenant, api_key_id=key_b, requested_model="smart", status="upstream_error",
              latency_ms=1000, created_at=day2),
        # Another tenant's usage never shows.
        entry(await make_tenant(app.state.runtime.db), cost_micros=999_999, created_at=day2),
    ]  # fmt: skip
    for row in rows:
        relay.complete(row)
    await relay.usage.flush()
    return key_a, key_b


async def test_the_report_groups_filters_and_exports_csv(
    client: httpx.AsyncClient, owner: Account, app: FastAPI
) -> None:
    key_a, key_b = await _seed(app, owner)

    by_day = (await client.get(USAGE, params={"group_by": "day"}, headers=owner.headers)).json()
    assert by_day["group_by"] == ["day"]
    assert [(r["day"], r["requests"], r["cost_micros"]) for r in by_day["items"]] == [
        ("2026-05-01", 1, 150),
        ("2026-05-02", 3, 75),
    ]
    by_model = (
        await client.get(USAGE, params={"group_by": ["model", "key"]}, headers=owner.headers)
    ).json()["items"]
    assert [(r["model"], r["key"], r["requests"], r["input_tokens"]) for r in by_model] == sorted(
        [
            ("claude-haiku", str(key_b), 1, 10),
            ("gpt-4o-mini", str(key_a), 2, 150),
            ("smart", str(key_b), 1, 0),
        ]
    )
    total = (await client.get(USAGE, headers=owner.headers)).json()["items"]
    assert len(total) == 1
    counted = ("requests", "cost_micros", "cache_hits", "errors", "failovers")
    assert [total[0][k] for k in counted] == [4, 225, 1, 1, 1]
    assert total[0]["avg_latency_ms"] == 351.2

    filtered = (
        await client.get(
            USAGE,
            params={
                "group_by": "workflow",
                "api_key_id": str(key_a),
                "since": "2026-05-02T00:00:00Z",
            },
            headers=owner.headers,
        )
    ).json()["items"]
    assert [(r["workflow"], r["requests"]) for r in filtered] == [(None, 1)]

    exported = await client.get(
        USAGE, params={"group_by": "workflow"}, headers={**owner.headers, "Accept": "text/csv"}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert table[0].keys() >= {"workflow", "requests", "cost_micros"}
    # A formula-looking name is quoted so spreadsheets show it as text.
    assert sorted((row["workflow"], row["requests"]) for row in table) == [
        ("", "2"),
        ("'=invoices", "2"),
    ]
    same = await client.get(
        USAGE, params={"group_by": "workflow", "format": "csv"}, headers=owner.headers
    )
    assert same.text == exported.text


async def test_the_report_refuses_unknown_groupings(
    client: httpx.AsyncClient, owner: Account
) -> None:
    assert_problem(
        await client.get(USAGE, params={"group_by": "colour"}, headers=owner.headers), 422
    )
    assert_problem(
        await client.get(USAGE, params={"since": "yesterday"}, headers=owner.headers), 422
    )

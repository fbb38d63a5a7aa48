"""The database layer on SQLite and PostgreSQL: migrations, sessions, types, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, event, select, text

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.ids import new_id
from auterity.core.models import UTCDateTime
from tests.conftest import make_settings

scratch = MetaData()
items = Table(
    "scratch_items",
    scratch,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
counters = Table(
    "scratch_counters", scratch, Column("id", Integer, primary_key=True), Column("value", Integer)
)


async def _create_scratch(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(scratch.create_all)


async def test_upgrade_reaches_head_and_downgrade_reverts(bare_db: Database) -> None:
    assert await migrate.current_revisions(bare_db) == ()
    assert not await migrate.is_at_head(bare_db)
    assert await migrate.upgrade(bare_db) == migrate.head_revisions()
    assert await migrate.is_at_head(bare_db)
    assert await migrate.upgrade(bare_db) == migrate.head_revisions()  # idempotent
    await migrate.downgrade(bare_db, "base")
    assert await migrate.current_revisions(bare_db) == ()


async def test_concurrent_upgrades_do_not_collide(bare_db: Database) -> None:
    results = await asyncio.gather(*(migrate.upgrade(bare_db) for _ in range(3)))
    assert all(result == migrate.head_revisions() for result in results)


async def test_timestamps_come_back_as_utc_and_ids_as_uuid7(db: Database) -> None:
    await _create_scratch(db)
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    item_id = new_id()
    async with db.session() as session:
        await session.execute(items.insert().values(id=item_id, name="a", created_at=moment))
    async with db.session(readonly=True) as session:
        row = (await session.execute(select(items))).one()
    assert row.id == item_id and isinstance(row.id, uuid.UUID) and row.id.version == 7
    assert row.created_at == moment
    assert row.created_at.tzinfo == UTC


async def test_naive_timestamps_are_refused(db: Database) -> None:
    await _create_scratch(db)
    with pytest.raises(Exception, match="naive datetime"):
        async with db.session() as session:
            await session.execute(
                items.insert().values(id=new_id(), name="a", created_at=datetime(2026, 1, 1))
            )


async def test_session_rolls_back_when_the_block_fails(db: Database) -> None:
    await _create_scratch(db)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await session.execute(
                items.insert().values(id=new_id(), name="lost", created_at=datetime.now(UTC))
            )
            raise RuntimeError("boom")
    async with db.session(readonly=True) as session:
        assert (await session.execute(select(items))).all() == []


async def test_concurrent_read_modify_write_transactions_all_commit(db: Database) -> None:
    """Forty read-then-write transactions: none fails as 'database is locked', none is lost."""
    await _create_scratch(db)
    async with db.session() as session:
        await session.execute(counters.insert().values(id=1, value=0))

    async def increment() -> None:
        async with db.session() as session:
            query = select(counters.c.value).where(counters.c.id == 1)
            if not db.is_sqlite:
                query = query.with_for_update()
            value = (await session.execute(query)).scalar_one()
            await asyncio.sleep(0)  # let other writers interleave
            await session.execute(
                counters.update().where(counters.c.id == 1).values(value=value + 1)
            )

    await asyncio.gather(*(increment() for _ in range(40)))
    async with db.session(readonly=True) as session:
        assert (await session.execute(select(counters.c.value))).scalar_one() == 40


async def test_sqlite_runs_in_wal_mode_with_busy_timeout(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite pragmas only")
    async with db.session(readonly=True) as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1


async def test_sqlite_keeps_its_pool_under_concurrency(tmp_path: Path) -> None:
    # Opening a SQLite connection costs milliseconds of CPU: more concurrent sessions than
    # the pool holds must wait for a pooled connection, not open and close extra ones.
    db = Database(make_settings(tmp_path, database_pool_size=3))
    opened = 0

    @event.listens_for(db.engine.sync_engine, "connect")
    def _count(*_: object) -> None:
        nonlocal opened
        opened += 1

    async def read() -> None:
        async with db.session(readonly=True) as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    try:
        for _ in range(2):
            await asyncio.gather(*(read() for _ in range(30)))
    finally:
        await db.dispose()
    assert opened == 3

"""Shared fixtures: every database-backed test runs on SQLite and on the real PostgreSQL.

Each test gets its own SQLite file or its own PostgreSQL schema, so tests run in parallel
(pytest-xdist). PostgreSQL is skipped with a visible reason only when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.api import create_app
from auterity.core import migrate
from auterity.core.clock import FrozenClock, set_clock
from auterity.core.database import Database
from auterity.core.settings import Settings, load_settings

POSTGRES_URL = os.environ.get(
    "AUTERITY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AUTERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_pg_status: dict[str, str | None] = {}


def _asyncpg_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")


async def postgres_unavailable() -> str | None:
    """None when PostgreSQL answers, else the reason (checked once per worker)."""
    if "reason" not in _pg_status:
        try:
            conn = await asyncpg.connect(_asyncpg_dsn(), timeout=3)
            await conn.close()
            _pg_status["reason"] = None
        except Exception as exc:
            _pg_status["reason"] = f"PostgreSQL at {POSTGRES_URL} did not answer: {exc!r}"
    return _pg_status["reason"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path / "var",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
        "log_format": "json",
        "access_log": False,
        # Off by default so suites sharing one Redis do not throttle each other; the
        # rate-limit tests turn it on.
        "rate_limit_per_ip": 0,
        "rate_limit_per_key": 0,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; skips the test when no server answers."""
    reason = await postgres_unavailable()
    if reason:
        pytest.skip(reason)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_asyncpg_dsn())
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield schema
    finally:
        conn = await asyncpg.connect(_asyncpg_dsn())
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings pointing at a fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield make_settings(tmp_path)
        return
    async with postgres_schema() as schema:
        yield make_settings(tmp_path, database_url=POSTGRES_URL, database_schema=schema)


@pytest.fixture
async def bare_db(settings: Settings) -> AsyncIterator[Database]:
    """A database with no migrations applied."""
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def db(bare_db: Database) -> Database:
    """A database migrated to head."""
    await migrate.upgrade(bare_db)
    return bare_db


@pytest.fixture
def app_factory(settings: Settings, db: Database) -> Any:
    def build(**kwargs: Any) -> FastAPI:
        return create_app(settings=kwargs.pop("settings", settings), database=db, **kwargs)

    return build


@pytest.fixture
async def app(app_factory: Any) -> AsyncIterator[FastAPI]:
    application = app_factory()
    # Generous: a loaded CI machine can take seconds to stop engines and schedulers.
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """The one clock, frozen at now (to the second) for the test; it moves when told to."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    previous = set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(previous)


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} did not answer: {exc!r}")
    finally:
        client.close()
    yield REDIS_URL

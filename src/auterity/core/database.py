"""The one way to reach the database: an engine per process and a unit-of-work session.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
`BEGIN IMMEDIATE`: a deferred transaction that reads and then writes while another writer
holds the lock fails at once with SQLITE_BUSY (the busy timeout does not apply to it), so
taking the write lock up front is what lets concurrent writers wait instead of failing.
Read-only sessions run in autocommit (no `BEGIN`): each statement sees a consistent
snapshot and runs beside a writer under WAL; use a write session when several reads must agree.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from auterity.core.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
_READONLY = "auterity_readonly"


def build_engine(settings: Settings) -> AsyncEngine:
    """Create the engine for `settings`; called once per process by `Database`."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        pool_args: dict[str, Any] = {}
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # No overflow: an overflow connection is closed on check-in, and opening one
            # (a thread, the file, four PRAGMAs) costs several milliseconds of CPU, so above
            # the pool size every request would pay it. Waiting for a pooled one is cheaper.
            pool_args = {"pool_size": settings.database_pool_size, "max_overflow": 0}
        engine = create_async_engine(
            url,
            echo=settings.database_echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool_args,
        )
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if settings.database_schema:
        connect_args["server_settings"] = {"search_path": settings.database_schema}
    return create_async_engine(
        url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so we choose its kind below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Read-only work runs in autocommit: each SELECT is its own consistent snapshot under
        # WAL, and skipping BEGIN saves a round trip to the driver thread per session.
        if not connection.get_execution_options().get(_READONLY, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine and hands out sessions; one per process, on `app.state.db`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = build_engine(settings)
        self.is_sqlite = settings.is_sqlite
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_sessions = async_sessionmaker(
            self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends cleanly, rolls back otherwise."""
        maker = self._readonly_sessions if readonly else self._sessions
        async with maker() as session:
            try:
                yield session
                # Read-only: closing returns the connection (the pool rolls it back) and
                # leaves loaded objects usable, where an explicit rollback would expire them.
                if not readonly:
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> float:
        """Round-trip a trivial query; returns the latency in milliseconds."""
        started = time.perf_counter()
        async with self.session(readonly=True) as session:
            await session.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    def pool_status(self) -> dict[str, int]:
        pool = self.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        return {
            "checked_out": int(checked_out()) if callable(checked_out) else 0,
            "size": int(size()) if callable(size) else 0,
        }

    async def dispose(self) -> None:
        await self.engine.dispose()

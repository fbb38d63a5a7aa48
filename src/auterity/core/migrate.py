"""Schema migrations: Alembic, run programmatically on the process's own engine.

Migration scripts live in `auterity/migrations` (beside the domain packages, so its env
can import every model for autogenerate without core importing upward).
"""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from auterity.core.database import Database

SCRIPT_LOCATION = "auterity:migrations"
# Any fixed 64-bit number: serialises concurrent `auterity up` on one PostgreSQL.
_PG_MIGRATION_LOCK = 0x4155_5445_5249_5459


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revisions() -> tuple[str, ...]:
    """The revision(s) the code expects the schema to be at."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def current_revisions(db: Database) -> tuple[str, ...]:
    """The schema's revision(s); read directly, as health checks call this on every probe."""
    async with db.session(readonly=True) as session:
        try:
            rows = await session.execute(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            return ()  # no version table yet: nothing applied
        return tuple(sorted(row[0] for row in rows))


async def is_at_head(db: Database) -> bool:
    return await current_revisions(db) == head_revisions()


async def upgrade(db: Database, revision: str = "head") -> tuple[str, ...]:
    """Bring the schema to `revision`; safe to call from several processes at once."""

    def _run(connection: Connection) -> tuple[str, ...]:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), revision)
        return _current(connection)

    async with db.engine.begin() as conn:
        return await conn.run_sync(_run)


async def downgrade(db: Database, revision: str) -> tuple[str, ...]:
    def _run(connection: Connection) -> tuple[str, ...]:
        command.downgrade(alembic_config(connection), revision)
        return _current(connection)

    async with db.engine.begin() as conn:
        return await conn.run_sync(_run)

"""The migrations build exactly the schema the models describe (no drift after merges)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.models import Base
from auterity.models_index import import_all_models


async def test_no_difference_between_migrations_and_models(bare_db: Database) -> None:
    await migrate.upgrade(bare_db)
    import_all_models()
    async with bare_db.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert differences == []

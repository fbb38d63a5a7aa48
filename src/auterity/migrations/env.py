"""Alembic environment: runs on the connection `auterity.core.migrate` hands over."""

from __future__ import annotations

from alembic import context

from auterity.core.models import Base
from auterity.models_index import import_all_models

import_all_models()
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `auterity db upgrade`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

"""`auterity db ...`: apply, inspect and create schema migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.settings import Settings, get_settings

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
console = Console(stderr=True)


def run_upgrade(settings: Settings, revision: str = "head") -> tuple[str, ...]:
    async def _go() -> tuple[str, ...]:
        db = Database(settings)
        try:
            return await migrate.upgrade(db, revision)
        finally:
            await db.dispose()

    current = asyncio.run(_go())
    console.print(f"Database at revision {', '.join(current) or '(empty)'}.")
    return current


@app.command()
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    run_upgrade(get_settings(), revision)


@app.command()
def downgrade(revision: Annotated[str, typer.Argument(help="Target revision, or -1.")]) -> None:
    """Revert migrations down to REVISION."""

    async def _go() -> tuple[str, ...]:
        db = Database(get_settings())
        try:
            return await migrate.downgrade(db, revision)
        finally:
            await db.dispose()

    current = asyncio.run(_go())
    console.print(f"Database at revision {', '.join(current) or '(empty)'}.")


@app.command()
def current() -> None:
    """Show the schema's revision and the code's head."""

    async def _go() -> tuple[str, ...]:
        db = Database(get_settings())
        try:
            return await migrate.current_revisions(db)
        finally:
            await db.dispose()

    revisions = asyncio.run(_go())
    heads = migrate.head_revisions()
    state = "[green]at head[/green]" if revisions == heads else "[yellow]behind[/yellow]"
    print(f"current: {', '.join(revisions) or '(empty)'}  head: {', '.join(heads)}")
    console.print(state)


@app.command()
def revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does.")],
    autogenerate: Annotated[
        bool, typer.Option(help="Diff the models against the database.")
    ] = True,
) -> None:
    """Create a migration script (for developers), diffing the models against an upgraded DB."""
    from alembic import command

    async def _go() -> None:
        db = Database(get_settings())
        try:
            await migrate.upgrade(db)
            async with db.engine.begin() as conn:
                await conn.run_sync(
                    lambda sync: command.revision(
                        migrate.alembic_config(sync), message=message, autogenerate=autogenerate
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(_go())

"""`auterity users ...`: create users and tenants from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from auterity.core.database import Database
from auterity.core.errors import AuterityError
from auterity.core.settings import get_settings
from auterity.identity.accounts import create_tenant_with_owner

app = typer.Typer(help="Users and tenants.", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def create(
    email: Annotated[str, typer.Option(help="The user's email.")],
    tenant: Annotated[str, typer.Option(help="Name of the tenant to create for them.")],
    role: Annotated[str, typer.Option(help="Their role in it.")] = "owner",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (asked for when omitted).", envvar="AUTERITY_NEW_USER_PASSWORD"
        ),
    ] = None,
) -> None:
    """Create a tenant with this user in it (creating the user if new)."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def _go() -> tuple[str, str]:
        db = Database(get_settings())
        try:
            async with db.session() as session:
                created, user = await create_tenant_with_owner(
                    session,
                    email=email,
                    password=password,
                    tenant_name=tenant,
                    role=role,
                    source="cli",
                )
                return str(created.slug), str(user.id)
        finally:
            await db.dispose()

    try:
        slug, user_id = asyncio.run(_go())
    except AuterityError as exc:
        details = "; ".join(f"{e.pointer}: {e.message}" for e in exc.errors)
        console.print(f"[red]{exc.detail}[/red] {details}")
        raise typer.Exit(1) from None
    console.print(f"Created user {email} ({user_id}) as {role} of tenant {slug!r}.")

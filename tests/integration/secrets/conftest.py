"""Secret store fixtures: one behavioural suite over every backend, and API accounts.

`settings` is overridden here so that each test in this folder runs on the local backend
over SQLite and over PostgreSQL, and on the Vault backend against a real HTTP server that
speaks Vault's KV v2 API (`vault_fake.py`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from auterity.core.database import Database
from auterity.core.runtime import Runtime
from auterity.core.settings import Settings
from auterity.identity.models import Tenant
from auterity.secrets import SecretService
from tests.conftest import POSTGRES_URL, make_settings, postgres_schema
from tests.integration.secrets.vault_fake import FakeVault

PASSWORD = "correct horse battery staple"
_counter = itertools.count()


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    server = FakeVault().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(
    params=[
        "local-sqlite",
        pytest.param("local-postgresql", marks=pytest.mark.postgres),
        "vault",
    ]
)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings for each secret backend; the Vault one keeps its database on SQLite."""
    if request.param == "local-sqlite":
        yield make_settings(tmp_path)
    elif request.param == "local-postgresql":
        async with postgres_schema() as schema:
            yield make_settings(tmp_path, database_url=POSTGRES_URL, database_schema=schema)
    else:
        vault: FakeVault = request.getfixturevalue("vault")
        yield make_settings(
            tmp_path,
            secrets_backend="vault",
            vault_url=vault.url,
            vault_token=vault.token,
            vault_mount=vault.mount,
        )


@pytest.fixture
async def secrets(settings: Settings, db: Database) -> AsyncIterator[SecretService]:
    """The service as the app builds it, with the backend the settings choose."""
    service = SecretService.build(Runtime.build(settings, (), db=db))
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def tenants(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    """Two tenants (the local backend's rows reference them)."""
    async with db.session() as session:
        rows = [Tenant(name=f"Tenant {n}", slug=f"tenant-{uuid.uuid4().hex[:8]}") for n in (1, 2)]
        session.add_all(rows)
        await session.flush()
        return rows[0].id, rows[1].id


@dataclass
class Account:
    email: str
    tenant_id: str
    tenant_slug: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def signup(client: httpx.AsyncClient) -> Account:
    n = next(_counter)
    email = f"owner{n}-{uuid.uuid4().hex[:6]}@example.com"
    response = await client.post(
        "/api/auth/signup",
        json={"email": email, "password": PASSWORD, "tenant_name": f"Tenant {n}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        email, body["tenant"]["id"], body["tenant"]["slug"], body["tokens"]["access_token"]
    )


async def add_member(client: httpx.AsyncClient, owner: Account, role: str) -> Account:
    """Invite a new user with `role` into the owner's tenant and log them in there."""
    email = f"{role}{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com"
    invited = await client.post(
        "/api/auth/invitations", json={"email": email, "role": role}, headers=owner.headers
    )
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        "/api/auth/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD},
    )
    assert accepted.status_code == 200, accepted.text
    login = await client.post(
        "/api/auth/token",
        json={"email": email, "password": PASSWORD, "tenant": owner.tenant_slug},
    )
    assert login.status_code == 200, login.text
    return Account(email, owner.tenant_id, owner.tenant_slug, login.json()["access_token"])


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)

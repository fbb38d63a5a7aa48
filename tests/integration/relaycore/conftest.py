"""RelayCore fixtures: the app served by uvicorn over real loopback HTTP, local provider
upstreams and the official `openai` and `anthropic` SDKs as clients; and a runtime on each
database, with and without Redis, with tenants and budgets in it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import uvicorn
import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.api import create_app
from auterity.core.database import Database
from auterity.core.runtime import Runtime
from auterity.core.settings import Settings
from auterity.identity.models import Tenant
from auterity.relaycore.budgets.models import Budget
from auterity.relaycore.gateway import RelayGateway
from tests.fixtures.llm_upstreams import Upstreams
from tests.integration.identity.conftest import Account, signup

PROVIDER_KEYS = {"openai": "sk-openai-test", "anthropic": "sk-ant-test", "backup": "sk-backup-test"}


def test_catalog(upstreams: Upstreams) -> dict[str, Any]:
    """The operator's catalog file for the tests: the real providers pointed at the local
    upstreams, gpt-4o-mini also served by `backup` (an OpenAI-compatible server), and the
    bundled local models left out (their own tests load them)."""
    return {
        "providers": {
            "openai": {"base_url": f"{upstreams.openai.url}/v1"},
            "anthropic": {"base_url": upstreams.anthropic.url},
            "backup": {"kind": "compatible", "base_url": f"{upstreams.backup.url}/v1"},
        },
        "models": {
            "gpt-4o-mini": {
                "deployments": [
                    {"provider": "openai", "model": "gpt-4o-mini"},
                    {"provider": "backup", "model": "gpt-4o-mini"},
                ]
            },
            "local/smollm2-135m-instruct": {"enabled": False},
            "local/all-minilm-l6-v2": {"enabled": False},
        },
        "aliases": {"local": {"enabled": False}},
        "policies": {"fastest": {"models": ["gpt-4.1-nano", "gpt-4o-mini", "claude-3-5-haiku"]}},
        "defaults": {"chat": "gpt-4o-mini", "embedding": "text-embedding-3-small"},
    }


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    servers = Upstreams.start()
    try:
        yield servers
    finally:
        servers.stop()


@dataclass
class Relay:
    url: str
    app: FastAPI
    client: httpx.AsyncClient  # for the platform API (keys, admin)
    owner: Account
    upstreams: Upstreams
    sdk_clients: list[Any] = field(default_factory=list)

    @property
    def gateway(self) -> RelayGateway:
        gateway: RelayGateway = self.app.state.relay
        return gateway

    async def key(self, account: Account | None = None, **fields: Any) -> str:
        created = await self.client.post(
            "/api/api-keys",
            json={"name": "relay", **fields},
            headers=(account or self.owner).headers,
        )
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key

    def openai(self, key: str, **options: Any) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key=key, max_retries=0, **options
        )
        self.sdk_clients.append(client)
        return client

    def anthropic(self, key: str) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=self.url, api_key=key, max_retries=0)
        self.sdk_clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self.sdk_clients:
            await client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def relay_settings(settings: Settings, upstreams: Upstreams, tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(test_catalog(upstreams)))
    return settings.model_copy(
        update={
            "relay_catalog_path": path,
            "relay_provider_keys": {k: openai_secret(v) for k, v in PROVIDER_KEYS.items()},
            "relay_breaker_failures": 3,
            "relay_breaker_cooldown_seconds": 30.0,
            "relay_max_retry_wait_seconds": 1.0,
            "relay_timeout_seconds": 5.0,
            "services": ["relaycore"],
        }
    )


def openai_secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@asynccontextmanager
async def serve_relay(
    settings: Settings, db: Database, upstreams: Upstreams
) -> AsyncIterator[Relay]:
    """RelayCore alone (as `auterity serve relaycore`) on a free loopback port."""
    app = create_app(["relaycore"], settings=settings, database=db)
    port = free_port()
    async with LifespanManager(app):
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        )
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
                await asyncio.sleep(0.01)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                owner = await signup(client)
                served = Relay(f"http://127.0.0.1:{port}", app, client, owner, upstreams)
                try:
                    yield served
                finally:
                    await served.aclose()
        finally:
            server.should_exit = True
            await serving


@pytest.fixture
async def relay(
    relay_settings: Settings, db: Database, upstreams: Upstreams
) -> AsyncIterator[Relay]:
    async with serve_relay(relay_settings, db, upstreams) as served:
        yield served


_counter = itertools.count()


@pytest.fixture(params=["sql", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    """Where counters live: the database (no Redis configured) or Redis."""
    value: str = request.param
    return value


@pytest.fixture
async def runtime(
    settings: Settings, db: Database, store: str, request: pytest.FixtureRequest
) -> AsyncIterator[Runtime]:
    if store == "redis":
        redis_url = request.getfixturevalue("redis_url")
        settings = settings.model_copy(update={"redis_url": redis_url})
    built = Runtime.build(settings, ("relaycore",), db=db)
    try:
        yield built
    finally:
        await built.close(dispose_db=False)


async def make_tenant(
    db: Database, settings: dict[str, Any] | None = None, tenant_id: uuid.UUID | None = None
) -> uuid.UUID:
    n = next(_counter)
    async with db.session() as session:
        tenant = Tenant(name=f"Tenant {n}", slug=f"t-{uuid.uuid4().hex[:12]}", settings=settings)
        if tenant_id is not None:
            tenant.id = tenant_id
        session.add(tenant)
        await session.flush()
        return tenant.id


async def make_budget(db: Database, tenant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    values: dict[str, Any] = {
        "name": "budget",
        "scope": "tenant",
        "scope_id": None,
        "period": "month",
        "mode": "hard",
        "alert_threshold_percent": 80,
        "downgrade": False,
    }
    values.update(fields)
    async with db.session() as session:
        budget = Budget(tenant_id=tenant_id, **values)
        session.add(budget)
        await session.flush()
        return budget.id


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)

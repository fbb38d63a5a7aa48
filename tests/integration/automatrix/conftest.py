"""Helpers: save a workflow through the API and run it to the end; the engine suite on both
executors.

The modules in CELERY_MODULES run each test with the local executor and again with the Celery
executor, on SQLite and PostgreSQL. A Celery test's steps run on a real worker subprocess, one
per backend and pytest-xdist worker for the whole session, so the worker has one database to
serve: those tests share that database (one SQLite file, one PostgreSQL schema) and keep
apart as every test here does anyway, by signing up a tenant of their own. Tests run one at
a time per xdist worker, so one app (one engine) drives the shared database at a time.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
import yaml

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.settings import Settings
from tests.celery_workers import celery_env, start_worker, stop_worker
from tests.conftest import POSTGRES_URL, make_settings, postgres_unavailable
from tests.integration.identity.conftest import Account, signup

CELERY_MODULES = {"test_engine", "test_api"}
CELERY_ONLY = {"test_celery_executor"}
ROOT = Path(__file__).resolve().parents[3]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "executor" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    executors = ["local", "celery"] if module in CELERY_MODULES else ["local"]
    metafunc.parametrize(
        "executor", ["celery"] if module in CELERY_ONLY else executors, indirect=True
    )


@pytest.fixture
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, executor: str, request: pytest.FixtureRequest) -> Settings:
    """The root `settings` (a fresh database) for the local executor; the session's shared
    database, served by its Celery worker, for the Celery executor."""
    if executor == "local":
        return settings
    site = _site(settings, request)
    site.check()
    return site.settings


@pytest.fixture
def celery_site(settings: Settings, request: pytest.FixtureRequest) -> CelerySite:
    """The worker serving this Celery test's database."""
    return _site(settings, request)


def _site(settings: Settings, request: pytest.FixtureRequest) -> CelerySite:
    backend = "sqlite" if settings.resolved_database_url.startswith("sqlite") else "postgresql"
    site: CelerySite = request.getfixturevalue(f"celery_{backend}")
    return site


@dataclass
class CelerySite:
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the Celery worker exited ({self.process.returncode}):\n{tail}")


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _upgrade(settings: Settings) -> None:
    db = Database(settings)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def _celery_site(backend: str, root: Path) -> Iterator[CelerySite]:
    env: dict[str, str] = {"AUTERITY_DATA_DIR": str(root / "var")}
    schema = None
    if backend == "sqlite":
        env["AUTERITY_DATABASE_URL"] = f"sqlite+aiosqlite:///{root / 'engine.db'}"
    else:
        reason = asyncio.run(postgres_unavailable())
        if reason:
            pytest.skip(reason)
        schema = f"celery_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg(f'CREATE SCHEMA "{schema}"'))
        env |= {"AUTERITY_DATABASE_URL": POSTGRES_URL, "AUTERITY_DATABASE_SCHEMA": schema}
    env = celery_env(env)
    settings = make_settings(
        root,
        database_url=env["AUTERITY_DATABASE_URL"],
        database_schema=schema,
        executor="celery",
        redis_url=env["AUTERITY_REDIS_URL"],
        celery_queue=env["AUTERITY_CELERY_QUEUE"],
    )
    settings.ensure_secret_key()  # written once, read by the worker and every app
    asyncio.run(_upgrade(settings))
    log = root / "worker.log"
    launcher = [sys.executable, "-m", "tests.integration.automatrix.celery_worker"]
    process = start_worker(env, log, launcher, cwd=ROOT)
    try:
        yield CelerySite(settings, process, log)
    finally:
        stop_worker(process)
        client = redis.Redis.from_url(env["AUTERITY_REDIS_URL"])
        client.delete(env["AUTERITY_CELERY_QUEUE"])
        client.close()
        if schema is not None:
            asyncio.run(_pg(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def celery_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CelerySite]:
    yield from _celery_site("sqlite", tmp_path_factory.mktemp("celery-sqlite"))


@pytest.fixture(scope="session")
def celery_postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CelerySite]:
    yield from _celery_site("postgresql", tmp_path_factory.mktemp("celery-postgresql"))


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def save(
    client: httpx.AsyncClient, account: Account, spec: str | dict[str, Any]
) -> dict[str, Any]:
    if isinstance(spec, str):
        response = await client.post(
            "/api/workflows",
            content=spec,
            headers={**account.headers, "content-type": "application/yaml"},
        )
    else:
        response = await client.post("/api/workflows", json=spec, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def run(
    client: httpx.AsyncClient,
    account: Account,
    workflow_id: str,
    inputs: dict[str, Any] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    started = await client.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": inputs or {}}, headers=account.headers
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    await engine.wait_for(uuid.UUID(run_id), timeout)
    body: dict[str, Any] = (await client.get(f"/api/runs/{run_id}", headers=account.headers)).json()
    return body


async def save_and_run(
    client: httpx.AsyncClient,
    account: Account,
    spec: str,
    inputs: dict[str, Any] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    workflow = await save(client, account, spec)
    return await run(client, account, workflow["id"], inputs, timeout)


def steps_by_id(run_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run_body["steps"]}


def named(spec: str) -> str:
    """Give a YAML spec a unique name (workflow names are unique per tenant)."""
    document = yaml.safe_load(spec)
    document["name"] = f"{document['name']}-{uuid.uuid4().hex[:6]}"
    return yaml.safe_dump(document)

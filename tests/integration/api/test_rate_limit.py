"""Rate limiting at the edge: headers, 429 with Retry-After, per address and per credential."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auterity.api import create_app
from auterity.core import migrate
from auterity.core.database import Database
from tests.conftest import make_settings

Connect = Callable[..., Any]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(make_settings(tmp_path))
    await migrate.upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def serve(tmp_path: Path, database: Database) -> AsyncIterator[Connect]:
    """`serve(**settings)` starts an app; `.client(ip)` talks to it from that address."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Any:
            settings = make_settings(tmp_path, rate_limit_window_seconds=3600, **overrides)
            app = create_app(settings=settings, database=database)
            await stack.enter_async_context(LifespanManager(app))

            def client(ip: str = "203.0.113.10") -> httpx.AsyncClient:
                transport = httpx.ASGITransport(
                    app=app, raise_app_exceptions=False, client=(ip, 4321)
                )
                return httpx.AsyncClient(transport=transport, base_url="http://testserver")

            return client

        yield start


@asynccontextmanager
async def opened(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with client:
        yield client


def assert_refused(response: httpx.Response, limit: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    body: dict[str, Any] = response.json()
    assert body["status"] == 429 and "Retry in" in body["detail"]
    return body


async def test_anonymous_requests_are_limited_per_address(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=3)
    async with opened(client()) as http:
        responses = [await http.get("/api") for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0"]
        first = responses[0].headers
        assert first["ratelimit-limit"] == "3"
        assert first["ratelimit-policy"] == '"ip";q=3;w=3600'
        assert 0 <= int(first["ratelimit-reset"]) <= 3600
        body = assert_refused(await http.get("/api"), 3)
        assert "client address" in body["detail"]
    async with opened(client("203.0.113.11")) as other:
        assert (await other.get("/api")).status_code == 200


async def test_health_and_metrics_are_exempt(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=1)
    async with opened(client()) as http:
        for _ in range(4):
            for path in ("/health/live", "/metrics"):
                response = await http.get(path)
                assert response.status_code == 200
                assert "ratelimit-limit" not in response.headers


async def test_credentials_are_limited_per_credential(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=100, rate_limit_per_key=3)
    async with opened(client()) as http:
        signup = await http.post(
            "/api/auth/signup",
            json={
                "email": "rl@example.com",
                "password": "a long passphrase 42",
                "tenant_name": "RL",
            },
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["tokens"]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for remaining in ("2", "1", "0"):
            response = await http.get("/api/auth/me", headers=headers)
            assert response.status_code == 200
            assert response.headers["ratelimit-remaining"] == remaining
            assert response.headers["ratelimit-policy"] == '"key";q=3;w=3600'
        body = assert_refused(await http.get("/api/auth/me", headers=headers), 3)
        assert "credential" in body["detail"]
        # Another credential from the same address has its own allowance.
        other = await http.get("/api", headers={"X-API-Key": "ak_nope_nope"})
        assert other.status_code == 200
        assert other.headers["ratelimit-limit"] == "3"


async def test_invented_credentials_spend_the_address_allowance(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=2, rate_limit_per_key=100)
    async with opened(client()) as http:
        for _ in range(2):
            bad = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
            assert (await http.get("/api/auth/me", headers=bad)).status_code == 401
        fresh = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
        body = assert_refused(await http.get("/api/auth/me", headers=fresh), 2)
        assert "client address" in body["detail"]
        assert (await http.get("/api")).status_code == 429


async def test_zero_turns_limits_off(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=0, rate_limit_per_key=0)
    async with opened(client()) as http:
        for _ in range(5):
            response = await http.get("/api")
            assert response.status_code == 200 and "ratelimit-limit" not in response.headers


async def test_redis_counts_are_shared_between_processes(serve: Connect, redis_url: str) -> None:
    first = await serve(rate_limit_per_ip=3, redis_url=redis_url)
    second = await serve(rate_limit_per_ip=3, redis_url=redis_url)
    address = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    async with opened(first(address)) as a, opened(second(address)) as b:
        assert (await a.get("/api")).headers["ratelimit-remaining"] == "2"
        assert (await b.get("/api")).headers["ratelimit-remaining"] == "1"
        assert (await a.get("/api")).headers["ratelimit-remaining"] == "0"
        assert_refused(await b.get("/api"), 3)


async def test_an_unreachable_store_lets_requests_through(serve: Connect) -> None:
    client = await serve(rate_limit_per_ip=1, redis_url="redis://127.0.0.1:1/0")
    async with opened(client()) as http:
        for _ in range(3):
            response = await http.get("/api")
            assert response.status_code == 200 and "ratelimit-limit" not in response.headers

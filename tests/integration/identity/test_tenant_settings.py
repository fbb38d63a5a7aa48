"""Per-tenant policy: read, partial update, validation, permissions, cache invalidation."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from auterity.identity import tenant_settings
from tests.integration.identity.conftest import add_member, assert_problem, signup


async def test_defaults_then_partial_update(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner = await signup(client)
    first = await client.get("/api/tenant/settings", headers=owner.headers)
    assert first.status_code == 200
    assert first.json() == {
        "http": {"allowed_private_networks": [], "allowed_private_hosts": []},
        "engine": {"max_concurrent_runs": None, "max_concurrent_steps": None},
        "code": {"allowed_imports": [], "network": False},
        "relay": {
            "tenant_limits": {"requests_per_minute": None, "tokens_per_minute": None},
            "key_limits": {"requests_per_minute": None, "tokens_per_minute": None},
            "key_overrides": {},
            "exact_cache": False,
            "semantic_cache": False,
        },
    }
    runtime = app.state.runtime
    tenant_id = uuid.UUID(owner.tenant_id)
    # Warm the cache, so the update must invalidate it to be seen.
    cached = await tenant_settings.load(runtime.db, runtime.cache, tenant_id)
    assert cached.engine.max_concurrent_runs is None

    updated = await client.patch(
        "/api/tenant/settings",
        json={"engine": {"max_concurrent_runs": 5}, "http": {"allowed_private_hosts": ["crm"]}},
        headers=owner.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["engine"]["max_concurrent_runs"] == 5
    again = await client.patch(
        "/api/tenant/settings", json={"code": {"allowed_imports": ["numpy"]}}, headers=owner.headers
    )
    body = again.json()
    assert body["engine"]["max_concurrent_runs"] == 5  # untouched sections keep their values
    assert body["http"]["allowed_private_hosts"] == ["crm"]
    assert body["code"]["allowed_imports"] == ["numpy"]
    loaded = await tenant_settings.load(runtime.db, runtime.cache, tenant_id)
    assert loaded.engine.max_concurrent_runs == 5
    assert loaded.code.allowed_imports == ["numpy"]


async def test_bad_values_are_named(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    bad = await client.patch(
        "/api/tenant/settings",
        json={"http": {"allowed_private_networks": ["10.0.0.0/33"]}},
        headers=owner.headers,
    )
    problem = assert_problem(bad, 422)
    assert problem["errors"][0]["pointer"].startswith("/http/allowed_private_networks/0")
    zero = await client.patch(
        "/api/tenant/settings", json={"engine": {"max_concurrent_steps": 0}}, headers=owner.headers
    )
    assert assert_problem(zero, 422)["errors"][0]["pointer"] == "/engine/max_concurrent_steps"
    unknown = await client.patch("/api/tenant/settings", json={"nope": 1}, headers=owner.headers)
    assert_problem(unknown, 422)


async def test_only_tenant_admins_change_settings(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    admin = await add_member(client, owner, "admin")
    denied = await client.patch(
        "/api/tenant/settings", json={"code": {"network": True}}, headers=admin.headers
    )
    assert_problem(denied, 403)
    assert (await client.get("/api/tenant/settings", headers=admin.headers)).status_code == 200


async def test_tenants_do_not_see_each_other(client: httpx.AsyncClient) -> None:
    one, two = await signup(client), await signup(client)
    await client.patch(
        "/api/tenant/settings", json={"code": {"network": True}}, headers=one.headers
    )
    other = await client.get("/api/tenant/settings", headers=two.headers)
    assert other.json()["code"]["network"] is False

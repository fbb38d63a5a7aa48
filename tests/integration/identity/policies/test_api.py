"""`/api/auth/policies`: CRUD, validation with pointers, permissions, tenants, dry runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.identity.conftest import Account, signup
from tests.integration.identity.policies.support import (
    ELSEWHERE,
    OFFICE,
    add_policy,
    connect,
    create_api_key,
)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(app) as client:
        yield client


@pytest.fixture
async def admin(http: httpx.AsyncClient) -> Account:
    return await signup(http)


def errors_by_pointer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["pointer"]: e["message"] for e in response.json()["errors"]}


async def test_create_read_update_delete(http: httpx.AsyncClient, admin: Account) -> None:
    created = await add_policy(
        http,
        admin,
        name="block-scanners",
        description="Known bad range",
        priority=5,
        effect="deny",
        conditions={"source_ips": ["192.0.2.0/24"], "methods": ["post", "DELETE"]},
    )
    assert created["conditions"] == {"source_ips": ["192.0.2.0/24"], "methods": ["POST", "DELETE"]}
    assert created["enabled"] is True
    low = await add_policy(http, admin, name="a-low", priority=-1, effect="allow")
    listed = (await http.get("/api/auth/policies", headers=admin.headers)).json()
    assert [p["name"] for p in listed] == ["block-scanners", "a-low"]

    url = f"/api/auth/policies/{created['id']}"
    assert (await http.get(url, headers=admin.headers)).json()["name"] == "block-scanners"
    patched = await http.patch(
        url,
        json={"enabled": False, "conditions": {"paths": ["/api/secrets/"]}},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["conditions"] == {"paths": ["/api/secrets"]}
    assert patched.json()["priority"] == 5

    assert (await http.delete(url, headers=admin.headers)).status_code == 204
    assert (await http.get(url, headers=admin.headers)).status_code == 404
    assert (
        await http.delete(f"/api/auth/policies/{low['id']}", headers=admin.headers)
    ).status_code == 204

    audit = (await http.get("/api/audit", headers=admin.headers)).json()["items"]
    actions = [e["action"] for e in audit if e["action"].startswith("policy.")]
    assert actions == [
        "policy.deleted",
        "policy.deleted",
        "policy.updated",
        "policy.created",
        "policy.created",
    ]


async def test_invalid_values_are_reported_with_pointers(
    http: httpx.AsyncClient, admin: Account
) -> None:
    response = await http.post(
        "/api/auth/policies",
        json={
            "name": "broken",
            "effect": "block",
            "conditions": {
                "source_ips": ["203.0.113.0/24", "10.1.2.3/8"],
                "within_hours": {"timezone": "Mars/Olympus", "start": "09:00", "end": "25:00"},
                "colour": "red",
            },
        },
        headers=admin.headers,
    )
    errors = errors_by_pointer(response)
    assert set(errors) == {
        "/effect",
        "/conditions/source_ips/1",
        "/conditions/within_hours/timezone",
        "/conditions/within_hours/end",
        "/conditions/colour",
    }
    assert "10.0.0.0/8" in errors["/conditions/source_ips/1"]


async def test_checks_across_fields_and_against_the_tenant(
    http: httpx.AsyncClient, admin: Account
) -> None:
    response = await http.post(
        "/api/auth/policies",
        json={
            "name": "mixed-up",
            "effect": "deny",
            "conditions": {
                "mfa_max_age_seconds": 300,
                "roles": ["editor", "auditor"],
                "user_ids": [str(uuid.uuid4())],
                "api_key_ids": [str(uuid.uuid4())],
                "not_client_cert_fingerprints": ["ab" * 32],
            },
        },
        headers=admin.headers,
    )
    errors = errors_by_pointer(response)
    assert set(errors) == {
        "/conditions/mfa_max_age_seconds",
        "/conditions/roles/1",
        "/conditions/api_key_ids",
        "/conditions/not_client_cert_fingerprints",
    }
    hints = {e["pointer"]: e.get("hint") for e in response.json()["errors"]}
    assert "AUTERITY_CLIENT_CERT_HEADER" in hints["/conditions/not_client_cert_fingerprints"]


async def test_names_are_unique_per_tenant(http: httpx.AsyncClient, admin: Account) -> None:
    await add_policy(http, admin, name="same", effect="allow")
    response = await http.post(
        "/api/auth/policies", json={"name": "same", "effect": "deny"}, headers=admin.headers
    )
    assert response.status_code == 409


async def test_managing_policies_needs_the_permission(
    http: httpx.AsyncClient, admin: Account
) -> None:
    key = await create_api_key(http, admin, scopes=["member:read"])
    response = await http.get("/api/auth/policies", headers={"X-API-Key": key["key"]})
    assert response.status_code == 403
    assert "policy:admin" in response.json()["detail"]
    assert (await http.get("/api/auth/policies")).status_code == 401


async def test_tenants_see_only_their_policies(
    app: FastAPI, http: httpx.AsyncClient, admin: Account
) -> None:
    policy = await add_policy(http, admin, effect="deny", conditions={"paths": ["/api/auth/me"]})
    other = await signup(http, tenant_name="Globex")
    assert (await http.get("/api/auth/policies", headers=other.headers)).json() == []
    url = f"/api/auth/policies/{policy['id']}"
    assert (await http.get(url, headers=other.headers)).status_code == 404
    assert (
        await http.patch(url, json={"enabled": False}, headers=other.headers)
    ).status_code == 404
    assert (await http.delete(url, headers=other.headers)).status_code == 404
    # The policy applies to its own tenant only.
    assert (await http.get("/api/auth/me", headers=admin.headers)).status_code == 403
    assert (await http.get("/api/auth/me", headers=other.headers)).status_code == 200
    # A name taken in one tenant is free in another.
    await add_policy(http, other, name=policy["name"], effect="allow")


async def test_a_change_that_would_lock_the_author_out_needs_force(
    app: FastAPI, http: httpx.AsyncClient, admin: Account
) -> None:
    body: dict[str, Any] = {
        "name": "office-only",
        "effect": "deny",
        "conditions": {"not_source_ips": ["198.51.100.0/24"]},
    }
    refused = await http.post("/api/auth/policies", json=body, headers=admin.headers)
    assert refused.status_code == 409, refused.text
    assert "office-only" in refused.json()["detail"] and "force=true" in refused.json()["detail"]
    assert (await http.get("/api/auth/policies", headers=admin.headers)).json() == []

    body["conditions"] = {"not_source_ips": [f"{OFFICE}/32"]}
    policy = await add_policy(http, admin, **body)
    tighten = await http.patch(
        f"/api/auth/policies/{policy['id']}",
        json={"conditions": {"not_source_ips": ["198.51.100.0/24"]}},
        headers=admin.headers,
    )
    assert tighten.status_code == 409
    forced = await http.patch(
        f"/api/auth/policies/{policy['id']}?force=true",
        json={"conditions": {"not_source_ips": ["198.51.100.0/24"]}},
        headers=admin.headers,
    )
    assert forced.status_code == 200
    assert (await http.get("/api/auth/policies", headers=admin.headers)).status_code == 403


async def test_dry_run(http: httpx.AsyncClient, admin: Account) -> None:
    deny = await add_policy(
        http,
        admin,
        name="no-scanners",
        priority=10,
        effect="deny",
        conditions={"source_ips": ["192.0.2.0/24"]},
    )
    await add_policy(
        http,
        admin,
        name="secrets-need-mfa",
        effect="require_mfa",
        conditions={"paths": ["/api/secrets"], "mfa_max_age_seconds": 600},
    )
    await add_policy(
        http,
        admin,
        name="keys-in-hours",
        effect="deny",
        conditions={
            "principal_kinds": ["api_key"],
            "outside_hours": {"start": "08:00", "end": "18:00"},
        },
    )

    async def ask(**body: Any) -> dict[str, Any]:
        response = await http.post("/api/auth/policies/evaluate", json=body, headers=admin.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    assert (await ask(path="/api/workflows"))["effect"] == "allow"
    denied = await ask(path="/api/workflows", ip=ELSEWHERE)
    assert denied["effect"] == "deny" and denied["policy"] == {
        "id": deny["id"],
        "name": "no-scanners",
    }
    assert ELSEWHERE in denied["reason"]
    step_up = await ask(path="/api/secrets/db", method="put")
    assert step_up["effect"] == "require_mfa" and step_up["mfa_required"] is True
    assert (await ask(path="/api/secrets/db", mfa_age_seconds=60))["effect"] == "allow"
    assert (await ask(path="/api/secrets/db", mfa_age_seconds=601))["effect"] == "require_mfa"

    key = await create_api_key(http, admin)
    night = "2026-03-10T22:00:00+00:00"
    assert (await ask(path="/api/x", api_key_id=key["id"], at=night))["effect"] == "deny"
    day = "2026-03-10T12:00:00+01:00"
    assert (await ask(path="/api/x", api_key_id=key["id"], at=day))["effect"] == "allow"
    assert (await ask(path="/api/x", user_id=admin.user_id, at=night))["effect"] == "allow"

    stranger = await http.post(
        "/api/auth/policies/evaluate",
        json={"path": "/api/x", "user_id": str(uuid.uuid4())},
        headers=admin.headers,
    )
    assert set(errors_by_pointer(stranger)) == {"/user_id"}


async def test_dry_runs_do_not_count_towards_rates(http: httpx.AsyncClient, admin: Account) -> None:
    await add_policy(
        http,
        admin,
        effect="deny",
        conditions={"paths": ["/api/auth/me"], "rate_above": {"requests": 1, "per_seconds": 3600}},
    )
    for _ in range(3):
        response = await http.post(
            "/api/auth/policies/evaluate", json={"path": "/api/auth/me"}, headers=admin.headers
        )
        assert response.json()["effect"] == "allow"
    assert (await http.get("/api/auth/me", headers=admin.headers)).status_code == 200
    response = await http.post(
        "/api/auth/policies/evaluate", json={"path": "/api/auth/me"}, headers=admin.headers
    )
    assert response.json()["effect"] == "deny"

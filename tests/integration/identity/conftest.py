"""Helpers for identity tests: sign up tenants and talk to the API as their users."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

PASSWORD = "correct horse battery staple"
_counter = itertools.count()


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    tenant_id: str
    tenant_slug: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def signup(
    client: httpx.AsyncClient, tenant_name: str | None = None, email: str | None = None
) -> Account:
    n = next(_counter)
    email = email or f"owner{n}@example.com"
    response = await client.post(
        "/api/auth/signup",
        json={"email": email, "password": PASSWORD, "tenant_name": tenant_name or f"Tenant {n}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        email=email,
        password=PASSWORD,
        user_id=body["user_id"],
        tenant_id=body["tenant"]["id"],
        tenant_slug=body["tenant"]["slug"],
        access_token=body["tokens"]["access_token"],
        refresh_token=body["tokens"]["refresh_token"],
    )


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/auth/token", json={"email": email, "password": password, **extra}
    )


async def add_member(
    client: httpx.AsyncClient, admin: Account, role: str, email: str | None = None
) -> Account:
    """Invite a new user with `role` into admin's tenant and log them in there."""
    email = email or f"member{next(_counter)}@example.com"
    invited = await client.post(
        "/api/auth/invitations", json={"email": email, "role": role}, headers=admin.headers
    )
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        "/api/auth/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD},
    )
    assert accepted.status_code == 200, accepted.text
    tokens = (await login(client, email, tenant=admin.tenant_slug)).json()
    me = (
        await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    ).json()
    return Account(
        email,
        PASSWORD,
        me["id"],
        admin.tenant_id,
        admin.tenant_slug,
        tokens["access_token"],
        tokens["refresh_token"],
    )


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body

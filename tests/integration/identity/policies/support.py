"""Helpers for the policy tests: accounts, clients from chosen addresses, MFA logins."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI

from tests.integration.identity.conftest import PASSWORD, Account

OFFICE = "203.0.113.10"  # where the tests' administrators sit (TEST-NET-3)
ELSEWHERE = "192.0.2.55"  # somewhere else (TEST-NET-1)


def connect(app: FastAPI, ip: str = OFFICE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def add_policy(
    http: httpx.AsyncClient, account: Account, *, expect: int = 201, **body: Any
) -> dict[str, Any]:
    body.setdefault("name", f"policy-{uuid.uuid4().hex[:8]}")
    response = await http.post("/api/auth/policies", json=body, headers=account.headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def login_with_mfa(http: httpx.AsyncClient, account: Account) -> dict[str, str]:
    """Turn MFA on for the account and log in with both factors; answers the new tokens."""
    enrol = await http.post("/api/auth/mfa/enrol", headers=account.headers)
    assert enrol.status_code == 200, enrol.text
    code = pyotp.TOTP(enrol.json()["secret"]).now()
    confirm = await http.post("/api/auth/mfa/confirm", json={"code": code}, headers=account.headers)
    assert confirm.status_code == 200, confirm.text
    recovery = confirm.json()["recovery_codes"]
    login = await http.post("/api/auth/token", json={"email": account.email, "password": PASSWORD})
    assert login.status_code == 200 and login.json()["mfa_required"], login.text
    second = await http.post(
        "/api/auth/mfa", json={"mfa_token": login.json()["mfa_token"], "code": recovery[0]}
    )
    assert second.status_code == 200, second.text
    tokens: dict[str, str] = second.json()
    return tokens


async def create_api_key(
    http: httpx.AsyncClient, account: Account, scopes: list[str] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/api/api-keys", json={"name": "k", "scopes": scopes}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key

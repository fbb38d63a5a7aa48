"""SSO test kit: a tenant owner, provider set-up, and the browserless redirect dance.

The dance is what a browser does: our login URL answers a redirect to the provider; the
provider's login and consent pages are HTML forms, submitted as plain POSTs with the
provider's cookies kept by an httpx client; its last redirect comes back to our callback,
which the ASGI client (holding our state cookie, as the browser would) then calls.

The providers here listen on 127.0.0.1, which the SSRF guard refuses by default (discovery,
keys and tokens are fetched through it): these tests' platform allows 127.0.0.1/32 explicitly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.identity.models import AuditEvent
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.identity.sso.oidc_server import OidcServer, oidc_server
from tests.integration.identity.sso.rogue_idp import rogue_idp

__all__ = ["oidc_server", "rogue_idp"]

OUR_ORIGIN = "http://testserver"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The parent fixture's settings, with loopback allowed to outbound calls."""
    loopback = [ipaddress.ip_network("127.0.0.1/32")]
    return settings.model_copy(update={"http_allowed_private_networks": loopback})


def provider_body(server: OidcServer, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": "corp",
        "name": "Corporate login",
        "issuer": server.issuer,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "scopes": ["openid", "email", "groups"],
        "role_mapping": {
            "claim": "groups",
            "map": {"admins": "admin", "devs": "editor"},
            "default_role": "viewer",
        },
        "allowed_domains": ["example.com"],
    }
    body.update(overrides)
    return body


async def add_provider(
    client: httpx.AsyncClient, owner: Account, server: OidcServer, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/sso/providers", json=provider_body(server, **overrides), headers=owner.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def start_login(client: httpx.AsyncClient, login_url: str) -> str:
    response = await client.get(login_url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def through_provider(idp: httpx.AsyncClient, url: str, account: str) -> str:
    """Follow the provider's pages as a browser would; returns the URL it sends us back to."""
    response = await idp.get(url)
    for _ in range(20):
        if response.is_redirect:
            location = str(response.url.join(response.headers["location"]))
            if location.startswith(OUR_ORIGIN):
                return location
            response = await idp.get(location)
            continue
        assert response.status_code == 200, response.text
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        prompt = re.search(r'name="prompt" value="([^"]+)"', response.text)
        assert action and prompt, response.text
        response = await idp.post(
            str(response.url.join(action.group(1))),
            data={"prompt": prompt.group(1), "login": account, "password": "any"},
        )
    raise AssertionError("the provider never sent the browser back")


async def callback(client: httpx.AsyncClient, url: str) -> httpx.Response:
    assert url.startswith(OUR_ORIGIN + "/api/auth/sso/callback?"), url
    return await client.get(url.removeprefix(OUR_ORIGIN))


@dataclass
class Dance:
    """One browser: our ASGI client plus its own cookie jar at the provider."""

    client: httpx.AsyncClient
    idp: httpx.AsyncClient

    async def login(self, login_url: str, account: str) -> httpx.Response:
        location = await start_login(self.client, login_url)
        return await callback(self.client, await through_provider(self.idp, location, account))


@pytest.fixture
async def idp_browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as idp:
        yield idp


@pytest.fixture
def dance(client: httpx.AsyncClient, idp_browser: httpx.AsyncClient) -> Dance:
    return Dance(client, idp_browser)


async def sso_audit(db: Database) -> list[AuditEvent]:
    async with db.session(readonly=True) as session:
        found = await session.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "sso.login")
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return list(found.scalars())


async def failure_reasons(db: Database) -> list[str]:
    return [e.details["reason"] for e in await sso_audit(db) if e.outcome == "failure"]


def assert_refused(response: httpx.Response, status: int, *secrets: str) -> dict[str, Any]:
    """A problem response of `status` that carries no token and none of `secrets`."""
    body = assert_problem(response, status)
    for secret in secrets:
        assert secret.lower() not in response.text.lower()
    assert "access_token" not in response.text and "refresh_token" not in response.text
    return body


def app_runtime(app: FastAPI) -> Any:
    return app.state.runtime

"""Fixtures for SAML tests: a signing IdP, a tenant owner, and a provider trusting that IdP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.identity.conftest import Account, signup
from tests.integration.identity.saml.idp import SigningIdp, encode


@pytest.fixture(scope="session")
def idp() -> SigningIdp:
    return SigningIdp.generate()


@pytest.fixture(scope="session")
def other_idp() -> SigningIdp:
    """Same entity id, different key: what an attacker without the IdP's key can produce."""
    return SigningIdp.generate()


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client, tenant_name="Corp", email="owner@corp.example")


@dataclass
class Provider:
    """A configured provider as the admin API answered it, with the URLs an IdP is given."""

    body: dict[str, Any]

    @property
    def acs_url(self) -> str:
        return str(self.body["acs_url"])

    @property
    def entity_id(self) -> str:
        return str(self.body["sp_entity_id"])

    @property
    def acs_path(self) -> str:
        return self.acs_url.removeprefix("http://testserver")


async def create_provider(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp, **fields: Any
) -> Provider:
    values: dict[str, Any] = {
        "name": "okta",
        "idp_entity_id": idp.entity_id,
        "sso_url": "https://idp.example.test/sso",
        "idp_x509_cert": idp.cert_pem,
        "role_attribute": "groups",
        "role_mapping": {"auterity-admins": "admin", "auterity-editors": "editor"},
        "default_role": "viewer",
        "allowed_email_domains": ["corp.example"],
    }
    values.update(fields)
    answer = await client.post("/api/auth/saml/providers", json=values, headers=owner.headers)
    assert answer.status_code == 201, answer.text
    return Provider(answer.json())


@pytest.fixture
async def provider(client: httpx.AsyncClient, owner: Account, idp: SigningIdp) -> Provider:
    return await create_provider(client, owner, idp)


async def post_acs(
    client: httpx.AsyncClient, provider: Provider, response_xml: str, relay_state: str | None = None
) -> httpx.Response:
    form = {"SAMLResponse": encode(response_xml)}
    if relay_state is not None:
        form["RelayState"] = relay_state
    return await client.post(provider.acs_path, data=form)


async def saml_audit(client: httpx.AsyncClient, owner: Account) -> list[dict[str, Any]]:
    """The tenant's `saml.login` audit events, newest first."""
    answer = await client.get("/api/audit", params={"action": "saml.login"}, headers=owner.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items

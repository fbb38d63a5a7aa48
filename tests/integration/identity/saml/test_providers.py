"""Administering a tenant's SAML identity providers: only tenant admins, only sound settings."""

from __future__ import annotations

import httpx

from tests.integration.identity.conftest import Account, add_member, assert_problem
from tests.integration.identity.saml.conftest import Provider, create_provider
from tests.integration.identity.saml.idp import SigningIdp

PROVIDERS = "/api/auth/saml/providers"


def _bare_base64(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


async def test_create_read_update_delete_with_audit(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    provider = await create_provider(
        client,
        owner,
        idp,
        idp_x509_cert=_bare_base64(idp.cert_pem),  # as IdP consoles often show it
        allowed_email_domains=["@Corp.Example", "corp.example", "eu.corp.example"],
    )
    body = provider.body
    assert body["idp_x509_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert body["allowed_email_domains"] == ["corp.example", "eu.corp.example"]
    assert body["idp_cert_expires_at"] > body["created_at"]
    assert body["login_url"].endswith(f"/api/auth/saml/{owner.tenant_slug}/okta/login")
    assert body["metadata_url"] == body["sp_entity_id"]

    listed = await client.get(PROVIDERS, headers=owner.headers)
    assert [p["name"] for p in listed.json()] == ["okta"]

    updated = await client.patch(
        f"{PROVIDERS}/okta",
        json={"default_role": None, "role_mapping": {"admins": "admin"}},
        headers=owner.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["default_role"] is None
    assert updated.json()["role_mapping"] == {"admins": "admin"}
    assert updated.json()["sso_url"] == body["sso_url"]

    assert (await client.delete(f"{PROVIDERS}/okta", headers=owner.headers)).status_code == 204
    assert_problem(await client.get(f"{PROVIDERS}/okta", headers=owner.headers), 404)

    audit = await client.get("/api/audit", headers=owner.headers)
    actions = [e["action"] for e in audit.json()["items"] if e["action"].startswith("saml_")]
    assert actions == [
        "saml_provider.deleted",
        "saml_provider.updated",
        "saml_provider.created",
    ]
    assert idp.cert_pem not in audit.text


async def test_only_tenant_admins_manage_providers(
    client: httpx.AsyncClient, owner: Account, provider: Provider
) -> None:
    # `admin` holds everything but tenant:admin; trusting an IdP is a tenant-level decision.
    admin = await add_member(client, owner, "admin")
    for method, path in [("GET", PROVIDERS), ("GET", f"{PROVIDERS}/okta")]:
        denied = await client.request(method, path, headers=admin.headers)
        assert "tenant:admin" in assert_problem(denied, 403)["detail"]
    assert_problem(await client.delete(f"{PROVIDERS}/okta", headers=admin.headers), 403)
    assert_problem(await client.get(PROVIDERS), 401)


async def test_invalid_settings_are_refused_with_pointers(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    base = {
        "name": "idp",
        "idp_entity_id": idp.entity_id,
        "sso_url": "https://idp.example.test/sso",
        "idp_x509_cert": idp.cert_pem,
    }
    cases = [
        ({"idp_x509_cert": "not a certificate"}, "/idp_x509_cert"),
        ({"role_mapping": {"a/b": "ghost"}}, "/role_mapping/a~1b"),
        ({"default_role": "ghost"}, "/default_role"),
        ({"allowed_email_domains": ["not a domain"]}, "/allowed_email_domains"),
        ({"sso_url": "ftp://idp.example.test"}, "/sso_url"),
        ({"sso_url": "http://idp.example.test/sso"}, "/sso_url"),
        ({"role_mapping": {"admins": "owner"}}, "/role_mapping/admins"),
        ({"default_role": "owner"}, "/default_role"),
        ({"name": "Has Spaces"}, "/name"),
    ]
    for change, pointer in cases:
        answer = await client.post(PROVIDERS, json={**base, **change}, headers=owner.headers)
        problem = assert_problem(answer, 422)
        assert pointer in [e["pointer"] for e in problem["errors"]], (change, problem)

    assert (await client.post(PROVIDERS, json=base, headers=owner.headers)).status_code == 201
    assert_problem(await client.post(PROVIDERS, json=base, headers=owner.headers), 409)
    cleared = await client.patch(
        f"{PROVIDERS}/idp", json={"idp_x509_cert": None}, headers=owner.headers
    )
    assert assert_problem(cleared, 422)["errors"][0]["pointer"] == "/idp_x509_cert"


async def test_custom_roles_can_be_mapped(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    role = await client.post(
        "/api/roles",
        json={"name": "auditor", "permissions": ["audit:read"]},
        headers=owner.headers,
    )
    assert role.status_code == 201, role.text
    provider = await create_provider(client, owner, idp, role_mapping={"audit": "auditor"})
    assert provider.body["role_mapping"] == {"audit": "auditor"}

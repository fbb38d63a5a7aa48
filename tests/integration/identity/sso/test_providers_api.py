"""Administering a tenant's sign-in providers: owners only, validated, the secret never shown."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from auterity.core.database import Database
from auterity.identity.models import AuditEvent
from auterity.identity.sso.models import SsoProvider
from tests.integration.identity.conftest import Account, add_member, assert_problem
from tests.integration.identity.sso.conftest import add_provider, provider_body
from tests.integration.identity.sso.oidc_server import OidcServer

IDP = OidcServer(issuer="https://login.example.com", client_secret="s3cret-value-0123456789")
PATH = "/api/auth/sso/providers"


async def test_create_list_get_without_the_secret(
    client: httpx.AsyncClient, owner: Account, db: Database
) -> None:
    created = await add_provider(client, owner, IDP, scopes=["email", "groups"])

    assert created["has_client_secret"] is True
    assert created["scopes"] == ["openid", "email", "groups"]  # openid always asked for
    assert created["login_url"] == f"/api/auth/sso/{owner.tenant_slug}/corp/login"
    assert created["callback_url"] == "http://testserver/api/auth/sso/callback"
    listed = await client.get(PATH, headers=owner.headers)
    fetched = await client.get(f"{PATH}/{created['id']}", headers=owner.headers)
    for response in (listed, fetched):
        assert response.status_code == 200
        assert IDP.client_secret not in response.text
        assert "client_secret" not in response.text.replace("has_client_secret", "")
    assert [p["id"] for p in listed.json()] == [created["id"]]
    async with db.session(readonly=True) as session:
        row = (await session.execute(select(SsoProvider))).scalar_one()
        events = list(
            (
                await session.execute(select(AuditEvent).where(AuditEvent.action.like("sso%")))
            ).scalars()
        )
    assert row.client_secret_sealed and IDP.client_secret not in row.client_secret_sealed
    assert [e.action for e in events] == ["sso_provider.created"]
    assert IDP.client_secret not in repr(events[0].details)


async def test_update_changes_only_what_is_sent(
    client: httpx.AsyncClient, owner: Account, db: Database
) -> None:
    created = await add_provider(client, owner, IDP)
    path = f"{PATH}/{created['id']}"

    renamed = await client.patch(
        path, json={"name": "Okta", "allowed_domains": ["Example.COM", "@corp.example"]},
        headers=owner.headers,
    )  # fmt: skip
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert body["name"] == "Okta" and body["has_client_secret"] is True
    assert body["allowed_domains"] == ["corp.example", "example.com"]
    assert body["role_mapping"] == created["role_mapping"]

    cleared = await client.patch(path, json={"client_secret": None}, headers=owner.headers)
    assert cleared.json()["has_client_secret"] is False
    async with db.session(readonly=True) as session:
        event = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action == "sso_provider.updated")
                    .order_by(AuditEvent.created_at)
                )
            )
            .scalars()
            .first()
        )
    assert event is not None and event.details == {"fields": ["allowed_domains", "name"]}


async def test_delete(client: httpx.AsyncClient, owner: Account) -> None:
    created = await add_provider(client, owner, IDP)
    deleted = await client.delete(f"{PATH}/{created['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"{PATH}/{created['id']}", headers=owner.headers), 404)
    assert_problem(await client.get(created["login_url"]), 404)


async def test_only_tenant_admins_manage_providers(
    client: httpx.AsyncClient, owner: Account
) -> None:
    admin = await add_member(client, owner, "admin")  # every permission but tenant:admin
    assert_problem(await client.get(PATH, headers=admin.headers), 403)
    response = await client.post(PATH, json=provider_body(IDP), headers=admin.headers)
    assert_problem(response, 403)
    assert_problem(await client.get(PATH), 401)


async def test_invalid_settings_are_explained(client: httpx.AsyncClient, owner: Account) -> None:
    body = provider_body(
        IDP,
        issuer="http://login.example.com",
        discovery_url="ftp://login.example.com/meta",
        role_mapping={"claim": "groups", "map": {"root": "owner", "x": "nope"}},
        allowed_domains=["not a domain"],
    )
    response = await client.post(PATH, json=body, headers=owner.headers)
    problem = assert_problem(response, 422)
    pointers = {e["pointer"] for e in problem["errors"]}
    assert pointers == {
        "/issuer",
        "/discovery_url",
        "/role_mapping/map/root",
        "/role_mapping/map/x",
        "/allowed_domains/0",
    }


async def test_loopback_http_issuer_is_allowed_outside_production(
    client: httpx.AsyncClient, owner: Account
) -> None:
    created = await add_provider(
        client, owner, OidcServer(issuer="http://127.0.0.1:9999"), slug="local"
    )
    assert created["issuer"] == "http://127.0.0.1:9999"


async def test_custom_roles_can_be_mapped_and_slugs_are_unique(
    client: httpx.AsyncClient, owner: Account
) -> None:
    role = await client.post(
        "/api/roles", json={"name": "auditor", "permissions": ["audit:read"]},
        headers=owner.headers,
    )  # fmt: skip
    assert role.status_code == 201, role.text
    mapping = {"claim": "roles", "map": {"audit": "auditor"}, "default_role": None}
    await add_provider(client, owner, IDP, role_mapping=mapping)
    again = await client.post(PATH, json=provider_body(IDP), headers=owner.headers)
    assert_problem(again, 409)

"""OIDC sign-in against a real OpenID Provider (node oidc-provider), browserless, both databases."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from auterity.core.database import Database
from auterity.identity.models import Membership, User
from auterity.identity.sso.api import STATE_COOKIE
from auterity.identity.sso.models import SsoLoginState
from tests.integration.identity.conftest import Account, signup
from tests.integration.identity.sso.conftest import (
    Dance,
    add_provider,
    app_runtime,
    assert_refused,
    callback,
    failure_reasons,
    sso_audit,
    start_login,
    through_provider,
)
from tests.integration.identity.sso.oidc_server import OidcServer


async def me(client: httpx.AsyncClient, access_token: str) -> dict[str, object]:
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def count_users(db: Database, email: str) -> int:
    async with db.session(readonly=True) as session:
        found = await session.execute(select(func.count()).where(User.email == email))
        return int(found.scalar_one())


async def test_login_redirects_with_pkce_state_and_nonce(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    url = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == oidc_server.issuer
    assert query["response_type"] == "code"
    assert query["client_id"] == oidc_server.client_id
    assert query["redirect_uri"] == "http://testserver/api/auth/sso/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["scope"].split() == ["openid", "email", "groups"]
    assert oidc_server.client_secret not in location


async def test_sign_in_provisions_user_with_mapped_role_and_reuses_it(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)

    first = await dance.login(provider["login_url"], "alice")

    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    tokens = first.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    alice = await me(client, tokens["access_token"])
    assert alice["email"] == "alice@example.com"  # normalised from Alice@Example.com
    assert alice["tenant_id"] == owner.tenant_id
    assert alice["role"] == "admin"  # groups: admins (-> admin) and staff (unmapped)
    assert alice["authentication_methods"] == ["sso"]

    # The refresh token works like any other.
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text

    # Again: the provider remembers the session; we recognise the same person.
    second = await dance.login(provider["login_url"], "alice")
    assert second.status_code == 200, second.text
    again = await me(client, second.json()["access_token"])
    assert again["id"] == alice["id"]
    assert await count_users(db, "alice@example.com") == 1

    successes = [e for e in await sso_audit(db) if e.outcome == "success"]
    assert [e.details["user_created"] for e in successes] == [True, False]
    assert {str(e.tenant_id) for e in successes} == {owner.tenant_id}
    assert successes[0].details["role"] == "admin"
    assert successes[0].actor_label == "alice@example.com"


async def test_group_mapping_and_default_role(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    roles = {}
    for account in ("bob", "carol"):
        # A fresh provider session per person: each is their own browser.
        async with httpx.AsyncClient(timeout=10) as idp:
            response = await Dance(client, idp).login(provider["login_url"], account)
        assert response.status_code == 200, response.text
        roles[account] = (await me(client, response.json()["access_token"]))["role"]
    assert roles == {"bob": "editor", "carol": "viewer"}


async def test_existing_user_of_another_tenant_is_not_taken_over(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    """A tenant's IdP cannot vouch for an account that lives outside the tenant."""
    dave = await signup(client, "Dave's own", "dave@example.com")
    provider = await add_provider(client, owner, oidc_server)

    refused = await dance.login(provider["login_url"], "dave")
    assert "invite you" in assert_refused(refused, 403)["detail"]
    assert (await sso_audit(db))[-1].details["reason"] == "not_provisioned"

    # Once invited (and accepted with his own credentials), the same SSO login works.
    invited = await client.post(
        "/api/auth/invitations", json={"email": dave.email, "role": "viewer"}, headers=owner.headers
    )
    await client.post("/api/auth/invitations/accept", json={"token": invited.json()["token"]})
    response = await dance.login(provider["login_url"], "dave")
    assert response.status_code == 200, response.text
    profile = await me(client, response.json()["access_token"])
    assert profile["id"] == dave.user_id and profile["tenant_id"] == owner.tenant_id
    assert await count_users(db, "dave@example.com") == 1
    # An SSO session cannot change the account-wide MFA settings of a password account.
    enrol = await client.post(
        "/api/auth/mfa/enrol",
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
    )
    assert enrol.status_code == 403


async def test_unknown_state_is_refused_and_audited(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    await add_provider(client, owner, oidc_server)
    response = await client.get(
        "/api/auth/sso/callback", params={"state": secrets.token_urlsafe(32), "code": "x"}
    )
    body = assert_refused(response, 400)
    assert "start again" in body["detail"]
    [event] = [e for e in await sso_audit(db) if e.outcome == "failure"]
    assert event.details == {"reason": "unknown_state"} and event.tenant_id is None


async def test_missing_state_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    assert_refused(await client.get("/api/auth/sso/callback?code=abc"), 400)
    assert await failure_reasons(db) == ["no_state"]


async def test_a_used_state_cannot_be_replayed(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    back = await through_provider(dance.idp, location, "alice")
    [bound] = [c for c in client.cookies.jar if c.name == STATE_COOKIE]
    first = await callback(client, back)
    assert first.status_code == 200, first.text
    assert client.cookies.get(STATE_COOKIE) is None  # spent: the browser drops it

    # Someone holding both the callback URL and the browser's cookie tries again.
    client.cookies.jar.set_cookie(bound)
    replay = await callback(client, back)

    assert_refused(replay, 400, first.json()["access_token"], first.json()["refresh_token"])
    [event] = [e for e in await sso_audit(db) if e.outcome == "failure"]
    assert event.details == {"reason": "state_reused"}
    assert str(event.tenant_id) == owner.tenant_id


async def test_a_state_from_another_browser_is_refused_without_spending_it(
    client: httpx.AsyncClient,
    app: FastAPI,
    dance: Dance,
    owner: Account,
    oidc_server: OidcServer,
    db: Database,
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    back = await through_provider(dance.idp, location, "alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        forged = await callback(stranger, back)
    assert_refused(forged, 400)
    assert await failure_reasons(db) == ["browser_mismatch"]
    # The browser that started the login can still finish it.
    assert (await callback(client, back)).status_code == 200


async def test_nonce_mismatch_is_refused(
    client: httpx.AsyncClient,
    app: FastAPI,
    dance: Dance,
    owner: Account,
    oidc_server: OidcServer,
    db: Database,
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    # The provider will put the nonce we sent in the ID token; we now expect another one.
    async with db.session() as session:
        await session.execute(
            update(SsoLoginState).values(nonce_sealed=app_runtime(app).sealer.seal("not-it"))
        )
    back = await through_provider(dance.idp, location, "alice")

    response = await callback(client, back)

    body = assert_refused(response, 401, oidc_server.client_secret, "alice")
    assert body["detail"] == "The identity provider's ID token is not valid."
    assert await failure_reasons(db) == ["nonce_mismatch"]
    assert await count_users(db, "alice@example.com") == 0


async def test_email_domain_not_allowed(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)

    response = await dance.login(provider["login_url"], "mallory")

    assert_refused(response, 403, "mallory@evil.test", "evil.test")
    [event] = [e for e in await sso_audit(db) if e.outcome == "failure"]
    assert event.details == {"reason": "domain_not_allowed"}
    assert event.actor_label == "mallory@evil.test"  # the audit log may name them; the caller not
    assert await count_users(db, "mallory@evil.test") == 0


async def test_unverified_email_cannot_take_over_an_account(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    victim = await signup(client, "Victim's own", "victim@example.com")
    provider = await add_provider(client, owner, oidc_server)

    response = await dance.login(provider["login_url"], "unverified")  # claims victim@example.com

    assert_refused(response, 403, victim.email)
    assert await failure_reasons(db) == ["email_unverified"]
    async with db.session(readonly=True) as session:
        joined = await session.execute(
            select(Membership).where(Membership.user_id == uuid.UUID(victim.user_id))
        )
        assert len(joined.all()) == 1  # only their own tenant


async def test_no_role_for_people_outside_mapped_groups(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    mapping = {"claim": "groups", "map": {"admins": "admin"}, "default_role": None}
    provider = await add_provider(client, owner, oidc_server, role_mapping=mapping)

    response = await dance.login(provider["login_url"], "carol")

    assert_refused(response, 403)
    assert await failure_reasons(db) == ["no_role"]
    async with db.session(readonly=True) as session:
        members = await session.execute(select(func.count()).select_from(Membership))
        assert members.scalar_one() == 1  # the owner only


async def test_without_jit_provisioning_strangers_are_refused(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server, jit_provisioning=False)
    assert_refused(await dance.login(provider["login_url"], "bob"), 403)
    assert await failure_reasons(db) == ["not_provisioned"]
    assert await count_users(db, "bob@example.com") == 0


async def test_wrong_client_secret_is_refused_without_leaking(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server, client_secret="wrong-secret-1234")
    response = await dance.login(provider["login_url"], "alice")
    assert_refused(response, 401, "wrong-secret-1234", "invalid_client")
    assert await failure_reasons(db) == ["code_rejected"]


async def test_provider_error_is_refused(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    state = parse_qs(urlsplit(location).query)["state"][0]
    response = await client.get(
        "/api/auth/sso/callback",
        params={
            "state": state,
            "error": "access_denied",
            "error_description": "<script>x</script>",
            "iss": oidc_server.issuer,
        },
    )
    assert_refused(response, 401, "<script>")
    [event] = [e for e in await sso_audit(db) if e.outcome == "failure"]
    assert event.details == {"reason": "provider_error", "error": "access_denied"}


async def test_response_from_another_issuer_is_refused(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    location = await start_login(client, provider["login_url"])
    back = await through_provider(dance.idp, location, "alice")
    mixed_up = back.replace("iss=http", "iss=https")
    assert mixed_up != back
    assert_refused(await callback(client, mixed_up), 401)
    assert await failure_reasons(db) == ["issuer_mismatch"]


async def test_disabled_or_unknown_provider_gives_not_found(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer
) -> None:
    provider = await add_provider(client, owner, oidc_server, enabled=False)
    assert_refused(await client.get(provider["login_url"]), 404)
    assert_refused(await client.get(f"/api/auth/sso/{owner.tenant_slug}/nope/login"), 404)
    assert_refused(await client.get("/api/auth/sso/no-such-tenant/corp/login"), 404)


async def test_roles_follow_the_mapping_at_each_sign_in(
    client: httpx.AsyncClient, dance: Dance, owner: Account, oidc_server: OidcServer
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    first = await dance.login(provider["login_url"], "alice")
    assert (await me(client, first.json()["access_token"]))["role"] == "admin"

    changed = await client.patch(
        f"/api/auth/sso/providers/{provider['id']}",
        json={"role_mapping": {"claim": "groups", "map": {"admins": "viewer"}}},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    second = await dance.login(provider["login_url"], "alice")

    assert (await me(client, second.json()["access_token"]))["role"] == "viewer"
    # The first login's token sees the change too: permissions are looked up, not baked in.
    assert (await me(client, first.json()["access_token"]))["role"] == "viewer"


async def test_an_owner_keeps_their_role(
    client: httpx.AsyncClient, dance: Dance, oidc_server: OidcServer
) -> None:
    dave = await signup(client, "Dave's own", "dave@example.com")
    provider = await add_provider(client, dave, oidc_server)  # maps dave's group to editor

    response = await dance.login(provider["login_url"], "dave")

    profile = await me(client, response.json()["access_token"])
    assert profile["id"] == dave.user_id and profile["role"] == "owner"


async def test_pending_login_keeps_no_usable_secret(
    client: httpx.AsyncClient, owner: Account, oidc_server: OidcServer, db: Database
) -> None:
    provider = await add_provider(client, owner, oidc_server)
    query = parse_qs(urlsplit(await start_login(client, provider["login_url"])).query)
    async with db.session(readonly=True) as session:
        row = (await session.execute(select(SsoLoginState))).scalar_one()
    stored = repr({c.key: getattr(row, c.key) for c in SsoLoginState.__table__.columns})
    assert query["state"][0] not in stored and query["nonce"][0] not in stored
    assert oidc_server.client_secret not in stored

"""API keys: shown once, stored hashed, scoped, usable as Bearer, revocable, expiring."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from auterity.core.clock import utcnow
from auterity.identity.models import ApiKey
from tests.integration.identity.conftest import add_member, assert_problem, signup


async def test_create_use_list_and_revoke(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    created = await client.post(
        "/api/api-keys",
        json={"name": "ci", "scopes": ["workflow:read", "relay:use"], "allowed_models": ["local"]},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert re.fullmatch(r"ak_[0-9a-f]{8}_[A-Za-z0-9-]{40,}", key)
    assert body["scopes"] == ["relay:use", "workflow:read"] and body["allowed_models"] == ["local"]

    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["kind"] == "api_key" and set(me.json()["permissions"]) == {
        "relay:use",
        "workflow:read",
    }
    via_header = await client.get("/api/auth/me", headers={"x-api-key": key})
    assert via_header.status_code == 200

    listed = (await client.get("/api/api-keys", headers=owner.headers)).json()
    assert len(listed) == 1 and "key" not in listed[0]
    assert listed[0]["masked_key"].startswith(key[:11]) and key not in str(listed)
    assert listed[0]["last_used_at"] is not None

    revoked = await client.delete(f"/api/api-keys/{body['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    after = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert "revoked" in assert_problem(after, 401)["detail"]


async def test_key_is_stored_only_as_a_digest(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    key = (await client.post("/api/api-keys", json={"name": "x"}, headers=owner.headers)).json()[
        "key"
    ]
    database = client._transport.app.state.runtime.db  # type: ignore[attr-defined]
    async with database.session(readonly=True) as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert key not in (row.key_hash, row.prefix) and key.split("_")[2] not in row.key_hash
    assert len(row.key_hash) == 64


async def test_default_scope_is_least_privilege(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    key = (await client.post("/api/api-keys", json={"name": "x"}, headers=owner.headers)).json()
    assert key["scopes"] == ["relay:use"]
    audit = await client.get("/api/audit", headers={"Authorization": f"Bearer {key['key']}"})
    assert_problem(audit, 403)


async def test_scopes_beyond_the_creator_and_unknown_scopes_are_refused(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client)
    viewer = await add_member(client, owner, "viewer")
    beyond = await client.post(
        "/api/api-keys", json={"name": "x", "scopes": ["secret:write"]}, headers=viewer.headers
    )
    body = assert_problem(beyond, 422)
    assert (
        body["errors"][0]["pointer"] == "/scopes" and "secret:write" in body["errors"][0]["message"]
    )
    unknown = await client.post(
        "/api/api-keys", json={"name": "x", "scopes": ["root:all"]}, headers=owner.headers
    )
    assert "root:all" in assert_problem(unknown, 422)["errors"][0]["message"]
    past = await client.post(
        "/api/api-keys",
        json={"name": "x", "expires_at": (utcnow() - timedelta(days=1)).isoformat()},
        headers=owner.headers,
    )
    assert assert_problem(past, 422)["errors"][0]["pointer"] == "/expires_at"


async def test_expired_key_stops_working(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    created = (
        await client.post(
            "/api/api-keys",
            json={"name": "x", "expires_at": (utcnow() + timedelta(hours=1)).isoformat()},
            headers=owner.headers,
        )
    ).json()
    database = client._transport.app.state.runtime.db  # type: ignore[attr-defined]
    async with database.session() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    client._transport.app.state.runtime.cache.clear_local()  # type: ignore[attr-defined]
    response = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {created['key']}"}
    )
    assert "expired" in assert_problem(response, 401)["detail"]


async def test_keys_cannot_mint_keys_and_wrong_keys_fail(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    key = (
        await client.post(
            "/api/api-keys", json={"name": "x", "scopes": ["relay:use"]}, headers=owner.headers
        )
    ).json()["key"]
    minted = await client.post(
        "/api/api-keys", json={"name": "y"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert_problem(minted, 403)
    forged = key[:-4] + "AAAA"
    assert_problem(
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401
    )
    assert_problem(
        await client.get("/api/auth/me", headers={"Authorization": "Bearer ak_nope"}), 401
    )


async def test_members_see_only_their_own_keys_admins_see_all(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    editor = await add_member(client, owner, "editor")
    mine = (
        await client.post("/api/api-keys", json={"name": "editor-key"}, headers=editor.headers)
    ).json()
    await client.post("/api/api-keys", json={"name": "owner-key"}, headers=owner.headers)
    assert [
        k["name"] for k in (await client.get("/api/api-keys", headers=editor.headers)).json()
    ] == ["editor-key"]
    assert len((await client.get("/api/api-keys", headers=owner.headers)).json()) == 2
    owner_key = next(
        k
        for k in (await client.get("/api/api-keys", headers=owner.headers)).json()
        if k["name"] == "owner-key"
    )
    assert_problem(
        await client.delete(f"/api/api-keys/{owner_key['id']}", headers=editor.headers), 404
    )
    assert (
        await client.delete(f"/api/api-keys/{mine['id']}", headers=owner.headers)
    ).status_code == 204


async def test_keys_survive_a_secret_key_rotation(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    from asgi_lifespan import LifespanManager

    from auterity.api import create_app
    from tests.conftest import make_settings

    async def client_for(settings):  # type: ignore[no-untyped-def]
        application = create_app(settings=settings, database=db)
        return application, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t"
        )

    old = make_settings(tmp_path, secret_key="the-old-secret-key-of-this-install")
    application, http = await client_for(old)
    async with LifespanManager(application), http:
        owner = await signup(http)
        key = (await http.post("/api/api-keys", json={"name": "k"}, headers=owner.headers)).json()[
            "key"
        ]
    rotated = make_settings(
        tmp_path,
        secret_key="a-brand-new-secret-key-value",
        previous_secret_keys="the-old-secret-key-of-this-install",
    )
    application, http = await client_for(rotated)
    async with LifespanManager(application), http:
        assert (
            await http.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 200
        refreshed = await http.post(
            "/api/auth/refresh", json={"refresh_token": owner.refresh_token}
        )
        assert refreshed.status_code == 200
        from auterity.core.key_rotation import reseal_all
        from auterity.core.models import Base

        await reseal_all(db, application.state.runtime.sealer, Base.metadata)
    only_new = make_settings(tmp_path, secret_key="a-brand-new-secret-key-value")
    application, http = await client_for(only_new)
    async with LifespanManager(application), http:
        # The key was re-hashed under the new key on its last use.
        assert (
            await http.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 200

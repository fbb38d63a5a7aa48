"""Roles, custom roles, invitations, grants and privilege-escalation attempts."""

from __future__ import annotations

import uuid

import httpx

from auterity.core.tenancy import bind_tenant
from auterity.identity.grants import effective_permissions
from tests.integration.identity.conftest import add_member, assert_problem, login, signup


async def test_viewer_cannot_administer(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    viewer = await add_member(client, owner, "viewer")
    assert (await client.get("/api/members", headers=viewer.headers)).status_code == 200
    denied = await client.patch(
        f"/api/members/{viewer.user_id}", json={"role": "owner"}, headers=viewer.headers
    )
    assert "member:admin" in assert_problem(denied, 403)["detail"]
    assert_problem(await client.get("/api/audit", headers=viewer.headers), 403)
    assert_problem(
        await client.post(
            "/api/auth/invitations", json={"email": "x@example.com"}, headers=viewer.headers
        ),
        403,
    )


async def test_admin_cannot_create_or_touch_owners(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    admin = await add_member(client, owner, "admin")
    editor = await add_member(client, owner, "editor")
    assert_problem(
        await client.patch(
            f"/api/members/{editor.user_id}", json={"role": "owner"}, headers=admin.headers
        ),
        403,
    )
    assert_problem(
        await client.patch(
            f"/api/members/{owner.user_id}", json={"role": "viewer"}, headers=admin.headers
        ),
        403,
    )
    assert_problem(await client.delete(f"/api/members/{owner.user_id}", headers=admin.headers), 403)
    invite_owner = await client.post(
        "/api/auth/invitations",
        json={"email": "o@example.com", "role": "owner"},
        headers=admin.headers,
    )
    assert_problem(invite_owner, 403)
    ok = await client.patch(
        f"/api/members/{editor.user_id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert ok.status_code == 200 and ok.json()["role"] == "viewer"
    # The change applies to the editor's very next request (cache invalidated).
    me = (await client.get("/api/auth/me", headers=editor.headers)).json()
    assert me["role"] == "viewer" and "workflow:write" not in me["permissions"]


async def test_last_owner_is_protected(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    assert_problem(
        await client.patch(
            f"/api/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
        ),
        409,
    )
    assert_problem(await client.delete(f"/api/members/{owner.user_id}", headers=owner.headers), 409)


async def test_role_changes_are_audited(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    editor = await add_member(client, owner, "editor")
    await client.patch(
        f"/api/members/{editor.user_id}", json={"role": "viewer"}, headers=owner.headers
    )
    page = (
        await client.get(
            "/api/audit", params={"action": "member.role_changed"}, headers=owner.headers
        )
    ).json()
    assert len(page["items"]) == 1
    item = page["items"][0]
    assert (
        item["details"] == {"from": "editor", "to": "viewer"} and item["actor_label"] == owner.email
    )
    assert item["target_id"] == editor.user_id


async def test_custom_roles(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    created = await client.post(
        "/api/roles",
        json={"name": "auditor", "permissions": ["audit:read", "member:read"]},
        headers=owner.headers,
    )
    assert created.status_code == 201
    auditor = await add_member(client, owner, "auditor")
    assert (await client.get("/api/audit", headers=auditor.headers)).status_code == 200
    assert_problem(
        await client.get("/api/api-keys/" + str(uuid.uuid4()), headers=auditor.headers), 404
    )
    bad = await client.post(
        "/api/roles", json={"name": "x", "permissions": ["nope:nope"]}, headers=owner.headers
    )
    assert "nope:nope" in assert_problem(bad, 422)["errors"][0]["message"]
    assert_problem(
        await client.post(
            "/api/roles", json={"name": "owner", "permissions": []}, headers=owner.headers
        ),
        409,
    )
    in_use = await client.delete(f"/api/roles/{created.json()['id']}", headers=owner.headers)
    assert_problem(in_use, 409)
    unknown_role = await client.post(
        "/api/auth/invitations",
        json={"email": "z@example.com", "role": "ghost"},
        headers=owner.headers,
    )
    assert assert_problem(unknown_role, 422)["errors"][0]["pointer"] == "/role"


async def test_admin_cannot_create_roles_beyond_their_permissions(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client)
    admin = await add_member(client, owner, "admin")
    denied = await client.post(
        "/api/roles", json={"name": "super", "permissions": ["tenant:admin"]}, headers=admin.headers
    )
    assert_problem(denied, 403)


async def test_user_in_two_tenants_picks_one_at_login(client: httpx.AsyncClient) -> None:
    first = await signup(client, tenant_name="First")
    second = await signup(client, tenant_name="Second")
    member = await add_member(client, first, "viewer")
    invited = await client.post(
        "/api/auth/invitations",
        json={"email": member.email, "role": "editor"},
        headers=second.headers,
    )
    await client.post("/api/auth/invitations/accept", json={"token": invited.json()["token"]})
    tokens = (await login(client, member.email, tenant=second.tenant_slug)).json()
    me = (
        await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    ).json()
    assert me["tenant_id"] == second.tenant_id and me["role"] == "editor"
    assert {t["tenant"]["slug"] for t in me["tenants"]} == {first.tenant_slug, second.tenant_slug}
    stranger = await login(client, member.email, tenant="not-mine")
    assert_problem(stranger, 404)


async def test_invitations_are_single_use(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    invited = await client.post(
        "/api/auth/invitations",
        json={"email": "new@example.com", "role": "editor"},
        headers=owner.headers,
    )
    token = invited.json()["token"]
    assert (
        await client.post(
            "/api/auth/invitations/accept",
            json={"token": token, "password": "a fine long passphrase"},
        )
    ).status_code == 200
    assert_problem(
        await client.post(
            "/api/auth/invitations/accept",
            json={"token": token, "password": "a fine long passphrase"},
        ),
        404,
    )
    assert_problem(
        await client.post("/api/auth/invitations/accept", json={"token": "inv_forged"}), 404
    )


async def test_resource_grants_add_permissions_on_one_resource(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    viewer = await add_member(client, owner, "viewer")
    grant = await client.post(
        "/api/grants",
        json={
            "resource_type": "workflow",
            "resource_id": "wf-1",
            "user_id": viewer.user_id,
            "permissions": ["workflow:run"],
        },
        headers=owner.headers,
    )
    assert grant.status_code == 201, grant.text
    app = client._transport.app  # type: ignore[attr-defined]
    from auterity.identity.principal import authenticate

    principal = await authenticate(app.state.identity, viewer.access_token)
    async with app.state.runtime.db.session(readonly=True) as session:
        bind_tenant(session, principal.tenant_id)
        on_granted = await effective_permissions(session, principal, "workflow", "wf-1")
        on_other = await effective_permissions(session, principal, "workflow", "wf-2")
    assert "workflow:run" in on_granted and "workflow:run" not in on_other
    neither = await client.post(
        "/api/grants",
        json={"resource_type": "workflow", "resource_id": "x", "permissions": ["workflow:run"]},
        headers=owner.headers,
    )
    assert assert_problem(neither, 422)["errors"][0]["pointer"] == "/user_id"


async def test_audit_log_pages_and_filters(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    for n in range(5):
        await client.post("/api/api-keys", json={"name": f"k{n}"}, headers=owner.headers)
    first = (
        await client.get(
            "/api/audit", params={"action": "api_key.created", "limit": 2}, headers=owner.headers
        )
    ).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            "/api/audit",
            params={"action": "api_key.created", "limit": 10, "cursor": first["next_cursor"]},
            headers=owner.headers,
        )
    ).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    names = [i["details"]["name"] for i in first["items"] + rest["items"]]
    assert names == ["k4", "k3", "k2", "k1", "k0"]
    assert_problem(
        await client.get("/api/audit", params={"cursor": "zzz"}, headers=owner.headers), 400
    )
    other = await signup(client)
    assert all(
        i["tenant_id"] == other.tenant_id
        for i in (await client.get("/api/audit", headers=other.headers)).json()["items"]
    )

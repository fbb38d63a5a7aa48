"""Sign-up, password login, throttling and lockout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auterity.api import create_app
from auterity.core.clock import FrozenClock, set_clock, utcnow
from auterity.core.database import Database
from tests.conftest import make_settings
from tests.integration.identity.conftest import PASSWORD, assert_problem, login, signup


async def test_signup_creates_tenant_and_owner(client: httpx.AsyncClient) -> None:
    account = await signup(client, tenant_name="Acme Corp", email="Ann@Example.com")
    me = (await client.get("/api/auth/me", headers=account.headers)).json()
    assert me["email"] == "ann@example.com"
    assert me["role"] == "owner"
    assert "member:admin" in me["permissions"] and "tenant:admin" in me["permissions"]
    assert me["tenants"][0]["tenant"]["slug"] == "acme-corp"
    assert me["authentication_methods"] == ["pwd"]


async def test_signup_rejects_weak_password_and_bad_email(client: httpx.AsyncClient) -> None:
    weak = await client.post(
        "/api/auth/signup", json={"email": "a@example.com", "password": "short", "tenant_name": "T"}
    )
    body = assert_problem(weak, 422)
    assert body["errors"][0]["pointer"] == "/password"
    assert "at least" in body["errors"][0]["message"]
    bad_email = await client.post(
        "/api/auth/signup", json={"email": "nope", "password": PASSWORD, "tenant_name": "T"}
    )
    assert assert_problem(bad_email, 422)["errors"][0]["pointer"] == "/email"
    extra = await client.post(
        "/api/auth/signup",
        json={"email": "b@example.com", "password": PASSWORD, "tenant_name": "T", "role": "x"},
    )
    assert assert_problem(extra, 422)["errors"][0]["pointer"] == "/role"


async def test_signup_twice_with_one_email_conflicts(client: httpx.AsyncClient) -> None:
    await signup(client, email="dup@example.com")
    again = await client.post(
        "/api/auth/signup",
        json={"email": "dup@example.com", "password": PASSWORD, "tenant_name": "T2"},
    )
    assert_problem(again, 409)


async def test_signup_can_be_disabled(tmp_path: Path, db: Database) -> None:
    application = create_app(settings=make_settings(tmp_path, signup_enabled=False), database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/api/auth/signup",
                json={"email": "a@example.com", "password": PASSWORD, "tenant_name": "T"},
            )
    assert_problem(response, 403)


async def test_login_with_json_and_with_the_oauth2_form(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    as_json = await login(client, account.email)
    assert as_json.status_code == 200
    body = as_json.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    as_form = await client.post(
        "/api/auth/token", data={"username": account.email, "password": PASSWORD}
    )
    assert as_form.status_code == 200 and as_form.json()["access_token"]


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    wrong = await login(client, account.email, "not the password at all")
    unknown = await login(client, "nobody@example.com", "not the password at all")
    for response in (wrong, unknown):
        body = assert_problem(response, 401)
        assert body["detail"] == "Invalid email or password."
        assert response.headers["www-authenticate"].startswith("Bearer")
    strip = lambda b: {k: v for k, v in b.items() if k not in ("request_id",)}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())


async def test_failed_logins_are_audited(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    await login(client, account.email, "not the password at all")
    page = (
        await client.get("/api/audit", params={"action": "auth.login"}, headers=account.headers)
    ).json()
    # A failed login names no tenant (membership is not revealed): not in the tenant's log...
    assert all(item["outcome"] != "failure" for item in page["items"])
    # ...but it is recorded: the tenant-less events are for operators.
    from sqlalchemy import select

    from auterity.identity.models import AuditEvent

    database: Database = client._transport.app.state.runtime.db  # type: ignore[attr-defined]
    async with database.session(readonly=True) as session:
        rows = (
            (
                await session.execute(
                    select(AuditEvent).where(
                        AuditEvent.action == "auth.login", AuditEvent.outcome == "failure"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [row.actor_label for row in rows] == [account.email]
    assert rows[0].details == {"reason": "bad_credentials"}


async def test_brute_force_locks_the_account_and_the_lock_expires(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    clock = FrozenClock(utcnow())
    previous = set_clock(clock)
    try:
        for _ in range(5):
            assert (await login(client, account.email, "wrong password guess")).status_code == 401
        locked = await login(client, account.email)  # even the right password
        body = assert_problem(locked, 429)
        assert int(locked.headers["retry-after"]) > 0
        assert "Too many failed logins" in body["detail"]
        clock.advance(timedelta(minutes=16))
        assert (await login(client, account.email)).status_code == 200
    finally:
        set_clock(previous)


async def test_lockout_with_redis_is_shared(tmp_path: Path, db: Database, redis_url: str) -> None:
    import uuid

    settings = make_settings(tmp_path, redis_url=redis_url)
    application = create_app(settings=settings, database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(
            app=application, client=(f"10.{uuid.uuid4().int % 250}.0.1", 1000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            account = await signup(http, email=f"redis-{uuid.uuid4().hex[:8]}@example.com")
            for _ in range(5):
                await login(http, account.email, "wrong password guess")
            assert_problem(await login(http, account.email), 429)
            await application.state.runtime.redis.delete(
                f"auterity:login:lock:account:{account.email}"
            )
            assert (await login(http, account.email)).status_code == 200


async def test_rehash_on_login_when_parameters_change(client: httpx.AsyncClient) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from auterity.identity.models import User

    account = await signup(client)
    database: Database = client._transport.app.state.runtime.db  # type: ignore[attr-defined]
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.email == account.email))).scalar_one()
        user.password_hash = weak_hash
    assert (await login(client, account.email)).status_code == 200
    async with database.session(readonly=True) as session:
        user = (await session.execute(select(User).where(User.email == account.email))).scalar_one()
    assert user.password_hash != weak_hash and user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("payload", [b"{", b"[]", b'{"email": 5}'])
async def test_bad_login_bodies_are_4xx(client: httpx.AsyncClient, payload: bytes) -> None:
    response = await client.post(
        "/api/auth/token", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_identity_metrics(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    await login(client, account.email, "not the password at all")
    await client.get("/api/auth/me", headers={"Authorization": "Bearer ak_bad_key"})
    text = (await client.get("/metrics")).text
    assert 'user_registrations_total{source="signup"}' in text
    assert 'failed_authentication_attempts_total{kind="api_key"}' in text
    assert 'audit_events_total{action="auth.login",outcome="failure"}' in text


async def test_request_log_names_tenant_and_user(
    tmp_path: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    application = create_app(settings=make_settings(tmp_path, access_log=True), database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            account = await signup(http)
            capsys.readouterr()
            await http.get("/api/auth/me", headers=account.headers)
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    request_line = next(
        line for line in lines if line.get("event") == "request" and line["path"] == "/api/auth/me"
    )
    assert request_line["tenant_id"] == account.tenant_id
    assert request_line["user_id"] == account.user_id
    assert request_line["status"] == 200 and request_line["request_id"]


async def test_unknown_user_costs_a_password_hash_too(client: httpx.AsyncClient) -> None:
    """No timing oracle: an unknown email still pays for one argon2 verification.

    argon2 costs tens of milliseconds and a missing-row lookup about one, so if the unknown
    path skipped hashing it would be >10x faster; the bound below is far from that and from noise.
    """
    import time

    account = await signup(client)

    async def median(email: str) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            await login(client, email, "a wrong password here")
            samples.append(time.perf_counter() - started)
        return sorted(samples)[2]

    known, unknown = await median(account.email), await median("ghost@example.com")
    assert unknown > known / 3, (known, unknown)

"""TOTP MFA: enrol, confirm, challenge login, replay, recovery codes, disable, tenant policy."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pyotp

from auterity.core.clock import FrozenClock, set_clock, utcnow
from tests.integration.identity.conftest import Account, add_member, assert_problem, login, signup


async def _enable_mfa(client: httpx.AsyncClient, account: Account) -> tuple[pyotp.TOTP, list[str]]:
    enrol = await client.post("/api/auth/mfa/enrol", headers=account.headers)
    assert enrol.status_code == 200
    body = enrol.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Auterity:")
    assert body["qr_png"].startswith("data:image/png;base64,iVBOR")
    totp = pyotp.TOTP(body["secret"])
    confirm = await client.post(
        "/api/auth/mfa/confirm", json={"code": totp.now()}, headers=account.headers
    )
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return totp, codes


async def test_login_with_mfa_needs_the_second_factor(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    clock = FrozenClock(utcnow())
    previous = set_clock(clock)
    try:
        totp, _ = await _enable_mfa(client, account)
        challenge = (await login(client, account.email)).json()
        assert challenge["mfa_required"] is True and "access_token" not in challenge
        # The challenge token is not an access token.
        assert_problem(
            await client.get(
                "/api/auth/me", headers={"Authorization": f"Bearer {challenge['mfa_token']}"}
            ),
            401,
        )
        wrong = await client.post(
            "/api/auth/mfa", json={"mfa_token": challenge["mfa_token"], "code": "000000"}
        )
        assert_problem(wrong, 401)
        clock.advance(timedelta(seconds=31))
        code = totp.at(clock.now())
        tokens = await client.post(
            "/api/auth/mfa", json={"mfa_token": challenge["mfa_token"], "code": code}
        )
        assert tokens.status_code == 200, tokens.text
        me = (
            await client.get(
                "/api/auth/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
            )
        ).json()
        assert me["authentication_methods"] == ["pwd", "mfa"] and me["mfa_enabled"] is True
        # The same code again (replay) is refused.
        again = (await login(client, account.email)).json()
        assert_problem(
            await client.post(
                "/api/auth/mfa", json={"mfa_token": again["mfa_token"], "code": code}
            ),
            401,
        )
    finally:
        set_clock(previous)


async def test_recovery_codes_work_once(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    _, codes = await _enable_mfa(client, account)
    first = (await login(client, account.email)).json()
    ok = await client.post(
        "/api/auth/mfa", json={"mfa_token": first["mfa_token"], "code": codes[0]}
    )
    assert ok.status_code == 200
    second = (await login(client, account.email)).json()
    assert_problem(
        await client.post(
            "/api/auth/mfa", json={"mfa_token": second["mfa_token"], "code": codes[0]}
        ),
        401,
    )


async def test_disable_needs_a_code(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    _, codes = await _enable_mfa(client, account)
    assert_problem(
        await client.post(
            "/api/auth/mfa/disable", json={"code": "123456"}, headers=account.headers
        ),
        401,
    )
    assert (
        await client.post("/api/auth/mfa/disable", json={"code": codes[1]}, headers=account.headers)
    ).status_code == 204
    assert "access_token" in (await login(client, account.email)).json()


async def test_bad_enrolment_codes(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    assert_problem(
        await client.post(
            "/api/auth/mfa/confirm", json={"code": "123456"}, headers=account.headers
        ),
        409,
    )
    await client.post("/api/auth/mfa/enrol", headers=account.headers)
    wrong = await client.post(
        "/api/auth/mfa/confirm", json={"code": "123456"}, headers=account.headers
    )
    assert assert_problem(wrong, 422)["errors"][0]["pointer"] == "/code"


async def test_tenant_policy_requires_mfa(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    viewer = await add_member(client, owner, "viewer")
    policy = await client.patch("/api/tenant", json={"require_mfa": True}, headers=owner.headers)
    assert policy.status_code == 200 and policy.json()["require_mfa"] is True
    blocked = await client.get("/api/members", headers=viewer.headers)
    assert "multi-factor" in assert_problem(blocked, 403)["detail"]
    assert (await client.get("/api/auth/me", headers=viewer.headers)).status_code == 200
    clock = FrozenClock(utcnow())
    previous = set_clock(clock)
    try:
        totp, _ = await _enable_mfa(client, viewer)
        clock.advance(30)  # the enrolment code's time step is spent
        challenge = (await login(client, viewer.email, tenant=owner.tenant_slug)).json()
        code = totp.at(clock.now())
        tokens = (
            await client.post(
                "/api/auth/mfa", json={"mfa_token": challenge["mfa_token"], "code": code}
            )
        ).json()
        allowed = await client.get(
            "/api/members", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert allowed.status_code == 200
    finally:
        set_clock(previous)

"""Access and refresh tokens: rotation, reuse detection, logout, and every kind of bad JWT."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from auterity.core.clock import FrozenClock, set_clock, utcnow
from auterity.identity.models import AuditEvent, RefreshToken
from tests.integration.identity.conftest import Account, assert_problem, signup


def _db(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    return client._transport.app.state.runtime.db  # type: ignore[attr-defined]


def _identity(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    return client._transport.app.state.identity  # type: ignore[attr-defined]


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_access_token_is_an_es256_jwt_with_kid_published_in_jwks(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    header = jwt.get_unverified_header(account.access_token)
    assert header["alg"] == "ES256" and header["kid"]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert key["kty"] == "EC" and "d" not in key  # public half only
    public = jwt.PyJWK(key).key
    claims = jwt.decode(account.access_token, public, algorithms=["ES256"], audience="auterity")
    assert claims["sub"] == account.user_id and claims["tid"] == account.tenant_id
    assert claims["exp"] - claims["iat"] == 1800


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    first = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert set(rotated) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert rotated["refresh_token"] != account.refresh_token
    # The old token again: theft is assumed, the whole family dies, the event is audited.
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert "already used" in assert_problem(reuse, 401)["detail"]
    assert_problem(
        await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}),
        401,
    )
    async with _db(client).session(readonly=True) as session:
        events = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "auth.refresh_token_reuse")
                )
            )
            .scalars()
            .all()
        )
    assert len(events) == 1 and str(events[0].tenant_id) == account.tenant_id


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    out = await client.post(
        "/api/auth/logout", json={"refresh_token": account.refresh_token}, headers=account.headers
    )
    assert out.status_code == 204
    assert_problem(
        await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token}), 401
    )


async def test_unknown_and_expired_refresh_tokens(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    assert_problem(
        await client.post("/api/auth/refresh", json={"refresh_token": "rt_nonsense"}), 401
    )
    async with _db(client).session() as session:
        row = (await session.execute(select(RefreshToken))).scalars().first()
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    body = assert_problem(
        await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token}), 401
    )
    assert "expired" in body["detail"]


def _forge(
    claims: dict[str, object], header: dict[str, object], key: object = None, alg: str = "ES256"
) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers=header)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_bad_tokens_are_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    good = account.access_token
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    head, payload, signature = good.split(".")
    tampered_payload = _b64({**claims, "tid": "00000000-0000-7000-8000-000000000000"})
    jwks_key = jwt.PyJWK(
        next(
            k
            for k in (await client.get("/.well-known/jwks.json")).json()["keys"]
            if k["kid"] == header["kid"]
        )
    )
    from cryptography.hazmat.primitives import serialization

    public_pem = jwks_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cases = {
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": header["kid"]}) + "." + payload + ".",
        "tampered payload": f"{head}.{tampered_payload}.{signature}",
        "foreign key": _forge(claims, {"kid": header["kid"]}, stranger),
        "unknown kid": _forge(claims, {"kid": "not-a-key"}, stranger),
        "wrong audience": _forge(
            {**claims, "aud": "someone-else"}, {"kid": header["kid"]}, stranger
        ),
        "HS256 with the public key": "{}.{}.{}".format(
            _b64({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}),
            payload,
            base64.urlsafe_b64encode(
                __import__("hmac").new(public_pem, f"{head}.{payload}".encode(), "sha256").digest()
            )
            .rstrip(b"=")
            .decode(),
        ),
        "garbage": "not.a.jwt",
        "refresh token as access": account.refresh_token,
    }
    for name, token in cases.items():
        response = await _me(client, token)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    missing = await client.get("/api/auth/me")
    assert_problem(missing, 401)


async def test_wrong_issuer_and_audience_signed_with_our_key_are_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    keyring = _identity(client).keyring
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    for changed in ({"iss": "https://evil.example"}, {"aud": "other-service"}, {"typ": "mfa"}):
        token = keyring.sign({**claims, **changed})
        assert (await _me(client, token)).status_code == 401, changed


async def test_expired_access_token(client: httpx.AsyncClient) -> None:
    clock = FrozenClock(utcnow() - timedelta(hours=2))
    previous = set_clock(clock)
    try:
        account = await signup(client)
    finally:
        set_clock(previous)
    body = assert_problem(await _me(client, account.access_token), 401)
    assert "expired" in body["detail"]


async def test_key_rotation_keeps_old_tokens_valid(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    identity = _identity(client)
    old_kid = jwt.get_unverified_header(account.access_token)["kid"]
    async with _db(client).session() as session:
        new_kid = await identity.keyring.rotate(session)
    assert new_kid != old_kid
    assert (await _me(client, account.access_token)).status_code == 200
    fresh = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert jwt.get_unverified_header(fresh.json()["access_token"])["kid"] == new_kid
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids


async def test_other_process_rotation_is_picked_up(client: httpx.AsyncClient) -> None:
    """A token signed by a key another process created verifies after a reload."""
    from auterity.identity.signing import KeyRing

    account = await signup(client)
    other = KeyRing(client._transport.app.state.runtime.sealer)  # type: ignore[attr-defined]
    async with _db(client).session() as session:
        await other.load(session)
        await other.rotate(session)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    token = other.sign(claims)
    assert (await _me(client, token)).status_code == 200


async def test_memberships_are_checked_per_request(client: httpx.AsyncClient) -> None:
    account: Account = await signup(client)
    from auterity.identity.models import User

    async with _db(client).session() as session:
        user = await session.get(User, __import__("uuid").UUID(account.user_id))
        assert user is not None
        user.is_active = False
    client._transport.app.state.runtime.cache.clear_local()  # type: ignore[attr-defined]
    assert_problem(await _me(client, account.access_token), 401)

"""No secret appears in plaintext in the database or the logs."""

from __future__ import annotations

import logging

import httpx
import pyotp
import pytest
from sqlalchemy import MetaData, select

from tests.integration.identity.conftest import PASSWORD, login, signup


async def test_database_and_logs_hold_no_plaintext_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; here every line counts
    account = await signup(client)
    key = (await client.post("/api/api-keys", json={"name": "k"}, headers=account.headers)).json()[
        "key"
    ]
    await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    enrol = (await client.post("/api/auth/mfa/enrol", headers=account.headers)).json()
    totp_secret = enrol["secret"]
    codes = (
        await client.post(
            "/api/auth/mfa/confirm",
            json={"code": pyotp.TOTP(totp_secret).now()},
            headers=account.headers,
        )
    ).json()["recovery_codes"]
    await login(client, account.email, "a wrong password here")
    invitation = (
        await client.post(
            "/api/auth/invitations", json={"email": "x@example.com"}, headers=account.headers
        )
    ).json()["token"]
    secrets = {
        "password": PASSWORD,
        "api key": key,
        "api key secret part": key.split("_")[2],
        "refresh token": account.refresh_token,
        "totp seed": totp_secret,
        "recovery code": codes[0],
        "invitation": invitation,
        "wrong password": "a wrong password here",
    }
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    dump: list[str] = []
    async with runtime.db.engine.connect() as conn:
        metadata = MetaData()
        await conn.run_sync(lambda sync: metadata.reflect(sync))
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                dump.append(repr(tuple(row)))
    database_text = "\n".join(dump)
    logs = (
        "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
        + capsys.readouterr().err
    )
    assert database_text and logs
    for name, value in secrets.items():
        assert value not in database_text, f"{name} stored in plaintext"
        assert value not in logs, f"{name} written to the logs"

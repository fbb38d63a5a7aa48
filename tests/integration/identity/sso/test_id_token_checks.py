"""ID tokens a real provider would never mint: forged, unsigned, misaddressed, expired, rotated."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.identity.models import User
from tests.integration.identity.conftest import Account, signup
from tests.integration.identity.sso.conftest import (
    OUR_ORIGIN,
    add_provider,
    assert_refused,
    callback,
    failure_reasons,
    start_login,
)
from tests.integration.identity.sso.oidc_server import OidcServer
from tests.integration.identity.sso.rogue_idp import CLIENT_ID, RogueIdp


async def rogue_login(client: httpx.AsyncClient, login_url: str) -> httpx.Response:
    location = await start_login(client, login_url)
    async with httpx.AsyncClient(timeout=10) as browser:
        redirect = await browser.get(location)
    assert redirect.status_code == 302
    back = redirect.headers["location"]
    assert back.startswith(OUR_ORIGIN)
    return await callback(client, back)


async def rogue_provider(
    client: httpx.AsyncClient, owner: Account, rogue_idp: RogueIdp
) -> dict[str, object]:
    server = OidcServer(issuer=rogue_idp.issuer, client_id=CLIENT_ID, client_secret="rogue-secret")
    return await add_provider(client, owner, server, allowed_domains=[])


async def victims(db: Database) -> int:
    async with db.session(readonly=True) as session:
        found = await session.execute(
            select(func.count()).where(User.email == "victim@example.com")
        )
        return int(found.scalar_one())


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("wrong_key", "bad_signature"),
        ("alg_none", "bad_id_token"),
        ("wrong_audience", "bad_id_token"),
        ("expired", "bad_id_token"),
    ],
)
async def test_bad_id_token_is_refused(
    client: httpx.AsyncClient,
    owner: Account,
    rogue_idp: RogueIdp,
    db: Database,
    mode: str,
    reason: str,
) -> None:
    provider = await rogue_provider(client, owner, rogue_idp)
    rogue_idp.mode = mode

    response = await rogue_login(client, str(provider["login_url"]))

    assert_refused(response, 401, "victim@example.com", "rogue-secret", "rogue-access-token")
    assert await failure_reasons(db) == [reason]
    assert await victims(db) == 0


async def test_valid_token_signs_in_and_metadata_is_cached(
    client: httpx.AsyncClient, owner: Account, rogue_idp: RogueIdp, db: Database
) -> None:
    provider = await rogue_provider(client, owner, rogue_idp)

    for _ in range(2):
        response = await rogue_login(client, str(provider["login_url"]))
        assert response.status_code == 200, response.text

    assert await victims(db) == 1
    # Two logins: one discovery and one key fetch (the core cache), two code exchanges.
    assert rogue_idp.hits["/.well-known/openid-configuration"] == 1
    assert rogue_idp.hits["/jwks"] == 1
    assert rogue_idp.hits["/token"] == 2


async def test_rotated_signing_key_is_fetched_once_more(
    client: httpx.AsyncClient, owner: Account, rogue_idp: RogueIdp
) -> None:
    provider = await rogue_provider(client, owner, rogue_idp)
    first = await rogue_login(client, str(provider["login_url"]))
    assert first.status_code == 200, first.text

    rogue_idp.mode = "rotated"  # signs with a key id our cached key set lacks
    second = await rogue_login(client, str(provider["login_url"]))

    assert second.status_code == 200, second.text
    assert rogue_idp.hits["/jwks"] == 2


async def test_a_provider_at_a_private_address_is_not_called_unless_allowed(
    app_factory: Any, settings: Settings, rogue_idp: RogueIdp
) -> None:
    # Discovery, keys and tokens go through the SSRF guard: with the platform's default
    # policy (no private networks), a provider on 127.0.0.1 is never reached.
    strict = settings.model_copy(update={"http_allowed_private_networks": []})
    application = app_factory(settings=strict)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=OUR_ORIGIN) as client:
            owner = await signup(client)
            provider = await rogue_provider(client, owner, rogue_idp)
            response = await client.get(str(provider["login_url"]))
    body = assert_refused(response, 502)
    assert "may not reach" in body["detail"]
    assert rogue_idp.hits.get("/.well-known/openid-configuration", 0) == 0

"""The ACS: signed responses log people in with a mapped role; anything doubtful is refused.

Every response here is signed for real (xmlsec) by a key the test generated; every refusal
must be a 4xx problem that says nothing about the assertion, plus an audit event with the reason.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.identity.conftest import PASSWORD, Account, assert_problem, signup
from tests.integration.identity.saml.conftest import (
    Provider,
    create_provider,
    post_acs,
    saml_audit,
)
from tests.integration.identity.saml.idp import SigningIdp

ALICE = "alice@corp.example"


def signed(idp: SigningIdp, provider: Provider, name_id: str = ALICE, **kwargs: Any) -> str:
    kwargs.setdefault("attributes", {"groups": ["staff", "auterity-editors"]})
    return idp.response(
        acs_url=provider.acs_url, audience=provider.entity_id, name_id=name_id, **kwargs
    )


async def me(client: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    answer = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {access_token}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def assert_refused(
    client: httpx.AsyncClient,
    owner: Account,
    answer: httpx.Response,
    status: int,
    reason: str,
    *secrets: str,
) -> dict[str, Any]:
    """A problem response that leaks nothing, and the newest audit event naming `reason`."""
    problem = assert_problem(answer, status)
    assert "access_token" not in answer.text
    for secret in secrets:
        assert secret not in answer.text
    event = (await saml_audit(client, owner))[0]
    assert event["outcome"] == "failure"
    assert event["details"]["reason"] == reason
    assert event["details"]["request_id"] == problem["request_id"]
    return event


async def test_signed_response_provisions_user_with_mapped_role(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    answer = await post_acs(client, provider, signed(idp, provider), relay_state="/workflows")

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["relay_state"] == "/workflows"
    profile = await me(client, body["access_token"])
    assert profile["email"] == ALICE
    assert profile["role"] == "editor"
    assert profile["tenant_id"] == owner.tenant_id
    assert profile["authentication_methods"] == ["saml"]
    event = (await saml_audit(client, owner))[0]
    assert event["outcome"] == "success"
    assert event["actor_label"] == ALICE
    assert event["details"]["user_created"] is True
    # The refresh token works like any other.
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_highest_mapped_role_wins_and_follows_the_idp(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    groups = {"groups": ["auterity-editors", "auterity-admins"]}
    first = await post_acs(client, provider, signed(idp, provider, attributes=groups))
    assert (await me(client, first.json()["access_token"]))["role"] == "admin"

    # The IdP moved Alice out of the admins group: her next login is an editor's.
    groups = {"groups": ["auterity-editors"]}
    second = await post_acs(client, provider, signed(idp, provider, attributes=groups))
    assert second.status_code == 200, second.text
    assert (await me(client, second.json()["access_token"]))["role"] == "editor"


async def test_unmapped_user_gets_default_role_or_is_refused(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    provider = await create_provider(client, owner, idp, default_role="viewer")
    answer = await post_acs(client, provider, signed(idp, provider, attributes={}))
    assert (await me(client, answer.json()["access_token"]))["role"] == "viewer"

    strict = await create_provider(client, owner, idp, name="strict", default_role=None)
    bob = signed(idp, strict, name_id="bob@corp.example", attributes={"groups": ["staff"]})
    refused = await post_acs(client, strict, bob)
    await assert_refused(client, owner, refused, 403, "no_role", "bob@corp.example")


async def test_email_can_come_from_an_attribute(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    provider = await create_provider(client, owner, idp, email_attribute="mail")
    attributes = {"mail": ["Carol@Corp.Example"], "groups": []}
    answer = await post_acs(
        client, provider, signed(idp, provider, name_id="opaque-id-123", attributes=attributes)
    )
    assert answer.status_code == 200, answer.text
    assert (await me(client, answer.json()["access_token"]))["email"] == "carol@corp.example"


async def test_tampered_assertion_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    xml = signed(idp, provider, attributes={"groups": ["auterity-editors"]})
    tampered = xml.replace("auterity-editors", "auterity-admins")
    assert tampered != xml

    answer = await post_acs(client, provider, tampered)

    await assert_refused(client, owner, answer, 401, "invalid_signature", "auterity-admins")


async def test_changed_email_after_signing_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    tampered = signed(idp, provider).replace(ALICE, "mallory@corp.example")

    answer = await post_acs(client, provider, tampered)

    await assert_refused(client, owner, answer, 401, "invalid_signature", "mallory@corp.example")
    assert (await saml_audit(client, owner))[0]["actor_label"] is None


async def test_assertion_signed_with_another_key_is_refused(
    client: httpx.AsyncClient,
    owner: Account,
    provider: Provider,
    idp: SigningIdp,
    other_idp: SigningIdp,
) -> None:
    answer = await post_acs(client, provider, signed(idp, provider, signer=other_idp))

    await assert_refused(client, owner, answer, 401, "invalid_signature", ALICE)


async def test_unsigned_assertion_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    answer = await post_acs(client, provider, signed(idp, provider, sign=False))

    await assert_refused(client, owner, answer, 401, "invalid_signature", ALICE)


async def test_signed_response_around_an_unsigned_assertion_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    """Policy: the assertion itself must be signed; a signed envelope alone is not enough."""
    envelope_signed = idp.sign(signed(idp, provider, sign=False))
    assert len(re.findall(r"<ds:Signature[ >]", envelope_signed)) == 1
    assert envelope_signed.index("<ds:Signature") < envelope_signed.index("<saml:Assertion")

    answer = await post_acs(client, provider, envelope_signed)

    event = await assert_refused(client, owner, answer, 401, "invalid_signature", ALICE)
    assert "Assertion of the Response is not signed" in event["details"]["message"]


async def test_signature_wrapping_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    """A genuine signed assertion for Alice, plus an unsigned one for Mallory beside it."""
    genuine = signed(idp, provider)
    start = genuine.index("<saml:Assertion")
    end = genuine.index("</saml:Assertion>") + len("</saml:Assertion>")
    evil = re.sub(r"<ds:Signature.*?</ds:Signature>", "", genuine[start:end], flags=re.S)
    evil = evil.replace(ALICE, "mallory@corp.example").replace('ID="_a', 'ID="_evil')
    for wrapped in [
        genuine[:start] + evil + genuine[start:],
        genuine[:end] + evil + genuine[end:],
        genuine[:start].replace(
            "</saml:Issuer>\n<samlp:Status>",
            f"</saml:Issuer>\n<samlp:Extensions>{genuine[start:end]}</samlp:Extensions>"
            "\n<samlp:Status>",
            1,
        )
        + evil
        + genuine[end:],
    ]:
        assert wrapped.count("<saml:Assertion") == 2
        answer = await post_acs(client, provider, wrapped)
        assert_problem(answer, 401)
        assert "mallory" not in answer.text
    reasons = [e["details"]["reason"] for e in await saml_audit(client, owner)]
    assert len(reasons) == 3 and "replayed" not in reasons
    assert not any(e["outcome"] == "success" for e in await saml_audit(client, owner))


async def test_replayed_assertion_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    xml = signed(idp, provider)
    first = await post_acs(client, provider, xml)
    assert first.status_code == 200, first.text

    again = await post_acs(client, provider, xml)

    event = await assert_refused(client, owner, again, 401, "replayed", ALICE)
    assert event["actor_label"] is None


async def test_concurrent_replay_logs_in_only_once(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    xml = signed(idp, provider)

    answers = await asyncio.gather(*(post_acs(client, provider, xml) for _ in range(4)))

    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    reasons = [e["details"].get("reason") for e in await saml_audit(client, owner)]
    assert sorted(map(str, reasons)) == ["None", "replayed", "replayed", "replayed"]


async def test_expired_assertion_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    # Issued an hour ago, valid for five minutes: beyond python3-saml's five minutes of skew.
    stale = signed(idp, provider, issued_at=datetime.now(UTC) - timedelta(hours=1))

    answer = await post_acs(client, provider, stale)

    await assert_refused(client, owner, answer, 401, "expired", ALICE)


async def test_assertion_for_another_audience_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    xml = idp.response(
        acs_url=provider.acs_url,
        audience="https://another-sp.example/metadata",
        name_id=ALICE,
    )

    answer = await post_acs(client, provider, xml)

    await assert_refused(client, owner, answer, 401, "wrong_audience", ALICE)


async def test_response_meant_for_another_tenant_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    """Same IdP, same key, but addressed to another tenant's ACS: it cannot be redirected."""
    other = await signup(client, tenant_name="Other", email="owner@other.example")
    theirs = await create_provider(client, other, idp, allowed_email_domains=[])
    xml = signed(idp, theirs)

    answer = await post_acs(client, provider, xml)

    await assert_refused(client, owner, answer, 401, "wrong_destination", ALICE)


async def test_wrong_issuer_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    impostor = SigningIdp("https://impostor.example/saml", idp.key_pem, idp.cert_pem)

    answer = await post_acs(client, provider, signed(impostor, provider))

    await assert_refused(client, owner, answer, 401, "wrong_issuer", ALICE)


async def test_email_outside_allowed_domains_is_refused(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    answer = await post_acs(
        client, provider, signed(idp, provider, name_id="eve@elsewhere.example")
    )

    event = await assert_refused(
        client, owner, answer, 403, "email_domain_not_allowed", "eve@elsewhere.example"
    )
    assert event["actor_label"] == "eve@elsewhere.example"


async def test_existing_account_must_be_invited_before_joining(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    bob = "bob@corp.example"
    await signup(client, tenant_name="Bob's own tenant", email=bob)

    refused = await post_acs(client, provider, signed(idp, provider, name_id=bob))
    await assert_refused(client, owner, refused, 403, "account_not_member", "Bob's own tenant")

    invitation = await client.post(
        "/api/auth/invitations", json={"email": bob, "role": "viewer"}, headers=owner.headers
    )
    accepted = await client.post(
        "/api/auth/invitations/accept",
        json={"token": invitation.json()["token"], "password": PASSWORD},
    )
    assert accepted.status_code == 200, accepted.text
    answer = await post_acs(client, provider, signed(idp, provider, name_id=bob))
    assert answer.status_code == 200, answer.text
    profile = await me(client, answer.json()["access_token"])
    assert (profile["tenant_id"], profile["role"]) == (owner.tenant_id, "editor")


async def test_owner_keeps_owner_role_whatever_the_idp_says(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    answer = await post_acs(
        client, provider, signed(idp, provider, name_id=owner.email, attributes={})
    )
    assert answer.status_code == 200, answer.text
    assert (await me(client, answer.json()["access_token"]))["role"] == "owner"


async def test_in_response_to_must_be_a_request_we_issued(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    started = await client.get(
        f"/api/auth/saml/{owner.tenant_slug}/okta/login", params={"relay_state": "/home"}
    )
    assert started.status_code == 302
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    query = parse_qs(urlsplit(started.headers["location"]).query)
    request_xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0])
    request_id = request_xml.decode().split(' ID="', 1)[1].split('"', 1)[0]

    answer = await post_acs(client, provider, signed(idp, provider, in_response_to=request_id))
    assert answer.status_code == 200, answer.text

    forged = signed(idp, provider, in_response_to="_" + "0" * 24 + ".9999999999.deadbeef")
    refused = await post_acs(client, provider, forged)
    await assert_refused(client, owner, refused, 401, "unknown_request", ALICE)


@pytest.mark.parametrize(
    ("form", "status", "reason"),
    [
        ({}, 400, "missing_response"),
        ({"SAMLResponse": "not base64 at all!"}, 401, "malformed"),
        (
            {"SAMLResponse": "PCFET0NUWVBFIGZvbyBbPCFFTlRJVFkgeCAieCI+XT48Zm9vLz4="},
            401,
            "malformed",
        ),
    ],
)
async def test_garbage_is_refused_and_audited(
    client: httpx.AsyncClient,
    owner: Account,
    provider: Provider,
    form: dict[str, str],
    status: int,
    reason: str,
) -> None:
    answer = await client.post(provider.acs_path, data=form)

    await assert_refused(client, owner, answer, status, reason)


async def test_disabled_or_unknown_provider_is_not_found(
    client: httpx.AsyncClient, owner: Account, provider: Provider, idp: SigningIdp
) -> None:
    disabled = await client.patch(
        "/api/auth/saml/providers/okta", json={"enabled": False}, headers=owner.headers
    )
    assert disabled.status_code == 200, disabled.text

    answer = await post_acs(client, provider, signed(idp, provider))
    await assert_refused(client, owner, answer, 404, "provider_disabled", ALICE)

    unknown = await client.post(f"/api/auth/saml/{owner.tenant_slug}/nope/acs", data={})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == answer.json()["detail"].replace("'okta'", "'nope'")


async def test_mapping_to_a_deleted_custom_role_is_refused(
    client: httpx.AsyncClient, owner: Account, idp: SigningIdp
) -> None:
    role = await client.post(
        "/api/roles", json={"name": "auditor", "permissions": ["audit:read"]}, headers=owner.headers
    )
    provider = await create_provider(client, owner, idp, role_mapping={"audit": "auditor"})
    auditors = {"groups": ["audit"]}
    answer = await post_acs(client, provider, signed(idp, provider, attributes=auditors))
    assert (await me(client, answer.json()["access_token"]))["role"] == "auditor"

    # The role is still assigned, so it cannot go; a new person's login must not revive it.
    assert_problem(
        await client.delete(f"/api/roles/{role.json()['id']}", headers=owner.headers), 409
    )
    removed = await client.delete(
        f"/api/members/{(await me(client, answer.json()['access_token']))['id']}",
        headers=owner.headers,
    )
    assert removed.status_code == 204
    assert (
        await client.delete(f"/api/roles/{role.json()['id']}", headers=owner.headers)
    ).status_code == 204

    newcomer = signed(idp, provider, name_id="dan@corp.example", attributes=auditors)
    refused = await post_acs(client, provider, newcomer)
    await assert_refused(client, owner, refused, 403, "mapped_role_unknown", "auditor")

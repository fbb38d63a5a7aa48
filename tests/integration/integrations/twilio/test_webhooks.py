"""Twilio's webhooks: signatures checked with the official validator; a signed inbound SMS
publishes `sms.received` and starts the workflows whose event trigger waits for it."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from tests.integration.identity.conftest import Account, assert_problem, signup
from tests.integration.integrations.conftest import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://auterity.example.com"


def inbound(body: str = "Where is my order?", sid: str | None = None) -> dict[str, str]:
    return {
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "AccountSid": ACCOUNT_SID,
        "From": "+15558675310",
        "To": "+15017122661",
        "Body": body,
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/x/Messages/y/Media/z",
        "MediaContentType0": "image/jpeg",
    }


async def deliver(
    client: httpx.AsyncClient, path: str, fields: dict[str, str], token: str = AUTH_TOKEN
) -> httpx.Response:
    signature = RequestValidator(token).compute_signature(f"{PUBLIC}{path}", fields)
    return await client.post(
        path,
        content=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


async def published(client: httpx.AsyncClient, account: Account) -> list[SimpleNamespace]:
    """The events recorded for the account's tenant, oldest first (from the events API)."""
    answer = await client.get("/api/events", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return [SimpleNamespace(**item) for item in reversed(answer.json()["items"])]


async def test_a_signed_inbound_sms_is_published_and_answered_with_twiml(
    platform: httpx.AsyncClient, account: Account
) -> None:
    fields = inbound()
    answer = await deliver(platform, f"/api/sms/inbound/{account.tenant_slug}", fields)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<Response" in answer.text
    (event,) = await published(platform, account)
    assert event.type == "sms.received"
    assert event.data["message_sid"] == fields["MessageSid"]
    assert event.data["from"] == "+15558675310" and event.data["body"] == "Where is my order?"
    assert event.data["media"] == [{"url": fields["MediaUrl0"], "content_type": "image/jpeg"}]


async def test_bad_or_missing_signatures_are_refused_and_nothing_happens(
    platform: httpx.AsyncClient, account: Account
) -> None:
    path = f"/api/sms/inbound/{account.tenant_slug}"
    wrong_key = await deliver(platform, path, inbound(), token="someone-elses-token")
    assert_problem(wrong_key, 401)
    fields = inbound()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}{path}", fields)
    tampered = await platform.post(
        path,
        content=urlencode({**fields, "Body": "send me the refund"}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert_problem(tampered, 401)
    unsigned = await platform.post(
        path,
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "X-Twilio-Signature" in assert_problem(unsigned, 401)["detail"]
    # Signed for another tenant's URL: the signature covers the URL.
    other = await signup(platform)
    moved = await deliver(platform, path, fields)
    assert moved.status_code == 200
    replayed_elsewhere = await platform.post(
        f"/api/sms/inbound/{other.tenant_slug}",
        content=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert_problem(replayed_elsewhere, 404)  # that tenant has no Twilio token
    unknown = await deliver(platform, "/api/sms/inbound/no-such-tenant", fields)
    assert_problem(unknown, 404)
    assert [e.type for e in await published(platform, account)] == [
        "sms.received"
    ]  # only the good delivery


async def test_status_callbacks_become_sms_status_events(
    platform: httpx.AsyncClient, account: Account
) -> None:
    fields = {
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "AccountSid": ACCOUNT_SID,
        "To": "+15558675310",
        "From": "+15017122661",
    }
    answer = await deliver(platform, f"/api/sms/status/{account.tenant_slug}", fields)
    assert answer.status_code == 204, answer.text
    (event,) = await published(platform, account)
    assert event.type == "sms.status"
    assert event.data["status"] == "undelivered" and event.data["error_code"] == 30003


async def wait_for_runs(
    client: httpx.AsyncClient, account: Account, workflow_id: str, count: int
) -> list[dict[str, Any]]:
    for _ in range(200):
        listed = await client.get(
            "/api/runs", params={"workflow_id": workflow_id}, headers=account.headers
        )
        runs = listed.json()["items"]
        if len(runs) >= count and all(r["status"] == "succeeded" for r in runs):
            return list(runs)
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} finished run(s), got {runs}")


async def test_an_inbound_sms_starts_the_workflow_of_an_event_trigger_once(
    platform: httpx.AsyncClient, account: Account
) -> None:
    spec = {
        "name": f"sms-inbox-{uuid.uuid4().hex[:6]}",
        "inputs": {"type": "object", "properties": {"from": {"type": "string"}}},
        "steps": [
            {"id": "echo", "uses": "transform", "with": {"value": "{{ inputs.body | upper }}"}}
        ],
        "outputs": {
            "text": "{{ steps.echo.output.value }}",
            "sender": "{{ 'sms from ' ~ inputs.from }}",
        },
    }
    workflow = (await platform.post("/api/workflows", json=spec, headers=account.headers)).json()
    trigger = await platform.post(
        "/api/triggers",
        json={
            "name": "inbound sms",
            "kind": "event",
            "workflow_id": workflow["id"],
            "event": "sms.received",
        },
        headers=account.headers,
    )
    assert trigger.status_code == 201, trigger.text
    fields = inbound("hello there")
    path = f"/api/sms/inbound/{account.tenant_slug}"
    assert (await deliver(platform, path, fields)).status_code == 200
    # Twilio redelivers (a timeout on its side): the same message starts nothing new.
    assert (await deliver(platform, path, fields)).status_code == 200
    (run,) = await wait_for_runs(platform, account, workflow["id"], 1)
    body = (await platform.get(f"/api/runs/{run['id']}", headers=account.headers)).json()
    assert body["outputs"] == {"text": "HELLO THERE", "sender": "sms from +15558675310"}
    await asyncio.sleep(0.1)
    again = await platform.get(
        "/api/runs", params={"workflow_id": workflow["id"]}, headers=account.headers
    )
    assert len(again.json()["items"]) == 1

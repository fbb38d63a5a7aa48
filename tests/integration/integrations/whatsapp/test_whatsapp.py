"""WhatsApp Cloud API: `whatsapp.send` against a Graph API stand-in, Graph's error bodies
as step errors, and the webhook's handshake and `X-Hub-Signature-256` check."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from tests.integration.automatrix.conftest import save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.integrations.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    Site,
)
from tests.integration.integrations.twilio.test_webhooks import published

FAST_RETRY = {"max_attempts": 3, "backoff": {"initial": 0.01, "max": 0.05}, "jitter": False}


def send(step_id: str, **with_: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "uses": "whatsapp.send",
        "with": {"to": "+15551234567", "phone_number_id": PHONE_NUMBER_ID, **with_},
        "retry": FAST_RETRY,
        "on_error": "continue",
    }


def workflow(*steps: dict[str, Any]) -> str:
    return json.dumps({"name": f"wa-{uuid.uuid4().hex[:8]}", "steps": list(steps)})


async def test_text_template_and_media_messages_reach_the_graph_api(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    template = {
        "name": "order_update",
        "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-17"}]}],
    }
    spec = workflow(
        send("text", text="Hi! https://shop.example.com", preview_url=True),
        send("template", template=template),
        send("media", media={"type": "image", "link": "https://cdn.example.com/a.jpg",
                             "caption": "your order"}),
    )  # fmt: skip
    body = await save_and_run(platform, account, spec)
    assert body["status"] == "succeeded", body
    steps = steps_by_id(body)
    assert all(steps[s]["output"]["message_id"].startswith("wamid.") for s in steps)
    by_type = {message["type"]: message for message in site.graph.sent}  # sent in parallel
    text, sent_template, media = by_type["text"], by_type["template"], by_type["image"]
    assert text == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": "text",
        "text": {"body": "Hi! https://shop.example.com", "preview_url": True},
    }
    assert sent_template["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": template["components"],
    }
    assert media["image"] == {"link": "https://cdn.example.com/a.jpg", "caption": "your order"}
    assert site.graph.versions == ["v21.0"] * 3
    assert ACCESS_TOKEN not in json.dumps(body)


async def test_graph_errors_keep_code_subcode_and_trace_and_throttling_is_retried(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    site.graph.throttle = 1
    spec = workflow(
        send("throttled", text="hello"),
        {**send("not_allowed", to="+15550001111", text="hello"), "needs": ["throttled"]},
    )
    steps = steps_by_id(await save_and_run(platform, account, spec))
    assert steps["throttled"]["status"] == "succeeded" and steps["throttled"]["attempt"] == 2
    refused = steps["not_allowed"]
    assert refused["status"] == "failed" and refused["attempt"] == 1
    error = refused["error"]
    assert error["kind"] == "client_error"
    assert error["details"]["code"] == 131030 and error["details"]["error_subcode"] == 2655007
    assert error["details"]["fbtrace_id"].startswith("A")
    assert "Recipient phone number not in allowed list" in error["message"]

    wrong = await platform.put(
        "/api/secrets/OTHER_WA_TOKEN", json={"value": "expired"}, headers=account.headers
    )
    assert wrong.status_code == 200
    spec = workflow(send("expired", text="hi", access_token_secret="OTHER_WA_TOKEN"))
    step = steps_by_id(await save_and_run(platform, account, spec))["expired"]
    assert step["error"]["details"]["code"] == 190 and step["error"]["details"]["status"] == 401


async def test_the_api_sends_a_message(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    message = {"to": "+15551234567", "phone_number_id": PHONE_NUMBER_ID, "text": "hi"}
    sent = await platform.post("/api/whatsapp/messages", json=message, headers=account.headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["wa_id"] == "15551234567"
    both = await platform.post(
        "/api/whatsapp/messages",
        json={**message, "template": {"name": "x"}},
        headers=account.headers,
    )
    assert_problem(both, 422)


async def test_the_subscription_handshake_echoes_the_challenge_only_for_the_verify_token(
    platform: httpx.AsyncClient, account: Account
) -> None:
    path = f"/api/whatsapp/webhook/{account.tenant_slug}"
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    ok = await platform.get(path, params=query)
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await platform.get(path, params={**query, "hub.verify_token": "guess"})
    assert_problem(wrong, 403)


def delivery() -> dict[str, Any]:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": metadata,
                            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551181"}],
                            "messages": [
                                {
                                    "from": "16315551181",
                                    "id": f"wamid.{uuid.uuid4().hex}",
                                    "timestamp": "1603059201",
                                    "type": "text",
                                    "text": {"body": "Is my order late?"},
                                }
                            ],
                        },
                    },
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": metadata,
                            "statuses": [
                                {
                                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI",
                                    "status": "read",
                                    "timestamp": "1603059210",
                                    "recipient_id": "16315551181",
                                }
                            ],
                        },
                    },
                ],
            }
        ],
    }


async def test_signed_deliveries_publish_messages_and_statuses_unsigned_ones_nothing(
    platform: httpx.AsyncClient, account: Account
) -> None:
    path = f"/api/whatsapp/webhook/{account.tenant_slug}"
    raw = json.dumps(delivery()).encode()
    good = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    bad = hmac.new(b"not-the-app-secret", raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    refused = await platform.post(
        path, content=raw, headers={**headers, "X-Hub-Signature-256": f"sha256={bad}"}
    )
    assert_problem(refused, 401)
    assert_problem(await platform.post(path, content=raw, headers=headers), 401)
    assert await published(platform, account) == []
    accepted = await platform.post(
        path, content=raw, headers={**headers, "X-Hub-Signature-256": f"sha256={good}"}
    )
    assert accepted.status_code == 200, accepted.text
    # ids derive from Meta's message ids (a redelivery is one event), so not time-ordered
    received, status = sorted(await published(platform, account), key=lambda e: e.type)
    assert received.type == "whatsapp.received"
    assert received.data["from"] == "16315551181" and received.data["profile_name"] == "Kerry"
    assert received.data["text"] == "Is my order late?"
    assert received.data["phone_number_id"] == PHONE_NUMBER_ID
    assert status.type == "whatsapp.status" and status.data["status"] == "read"

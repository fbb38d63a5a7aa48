"""Twilio SMS: the stand-in speaks Twilio's format (the official client proves it), and
`sms.send` and `POST /api/sms/messages` send through it with the tenant's secrets."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.integration.automatrix.conftest import save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, assert_problem, signup
from tests.integration.integrations.conftest import ACCOUNT_SID, AUTH_TOKEN, Site
from tests.integration.integrations.twilio.twilio_api import TwilioApi

FROM = "+15017122661"
FAST_RETRY = {"max_attempts": 3, "backoff": {"initial": 0.01, "max": 0.05}, "jitter": False}


def sms_step(step_id: str = "send", **with_: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "uses": "sms.send",
        "with": {"to": "+15558675310", "from": FROM, "body": "Your order shipped", **with_},
        "retry": FAST_RETRY,
        "on_error": "continue",
    }


def workflow(*steps: dict[str, Any]) -> str:
    return json.dumps({"name": f"sms-{uuid.uuid4().hex[:8]}", "steps": list(steps)})


def test_the_official_twilio_client_talks_to_the_stand_in(site: Site) -> None:
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = site.twilio_url
    message = client.messages.create(to="+15558675310", from_=FROM, body="hello")
    assert message.sid.startswith("SM") and message.status == "queued"
    assert message.to == "+15558675310" and message.num_segments == "1"
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to="12", from_=FROM, body="hello")
    assert refused.value.status == 400 and refused.value.code == 21211
    wrong = Client(ACCOUNT_SID, "not-the-token")
    wrong.api.base_url = site.twilio_url
    with pytest.raises(TwilioRestException) as denied:
        wrong.messages.create(to="+15558675310", from_=FROM, body="hello")
    assert denied.value.status == 401 and denied.value.code == 20003


async def test_sms_send_posts_twilio_form_with_basic_auth_and_the_idempotency_token(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    callback = f"https://auterity.example.com/api/sms/status/{account.tenant_slug}"
    spec = workflow(
        sms_step(media_urls=["https://cdn.example.com/box.jpg"], status_callback=callback)
    )
    body = await save_and_run(platform, account, spec)
    assert body["status"] == "succeeded", body
    sent = site.twilio.sent
    assert len(sent) == 1, json.dumps(body["steps"])
    form = sent[0].form
    assert form == {
        "To": ["+15558675310"],
        "From": [FROM],
        "Body": ["Your order shipped"],
        "MediaUrl": ["https://cdn.example.com/box.jpg"],
        "StatusCallback": [callback],
    }
    auth = base64.b64decode(sent[0].headers["authorization"].split()[1]).decode()
    assert auth == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    assert sent[0].headers["i-twilio-idempotency-token"] == f"{body['id']}:send"
    step = steps_by_id(body)["send"]
    assert step["output"]["sid"].startswith("SM") and step["output"]["status"] == "queued"
    assert step["output"]["from"] == FROM
    # The credentials the action read are redacted from everything the run shows.
    assert AUTH_TOKEN not in json.dumps(body)


async def test_twilio_errors_fail_the_step_with_their_code_and_429_is_retried(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    site.twilio.scripted.append((429, "1"))
    body = await save_and_run(platform, account, workflow(sms_step("throttled")))
    throttled = steps_by_id(body)["throttled"]
    assert throttled["status"] == "succeeded" and throttled["attempt"] == 2, throttled
    assert len(site.twilio.sent) == 1

    # A number that cannot be one is refused when the workflow is saved, at its path.
    saved = await platform.post(
        "/api/workflows",
        content=workflow(sms_step("bad_number", to="+0123")),
        headers={**account.headers, "content-type": "application/json"},
    )
    problem = assert_problem(saved, 422)
    assert problem["errors"][0]["pointer"] == "/steps/0/with/to"

    invalid = workflow(sms_step("unknown", to="+1555"))
    body = await save_and_run(platform, account, invalid)
    step = steps_by_id(body)["unknown"]
    assert step["status"] == "failed" and step["attempt"] == 1
    error = step["error"]
    assert error["kind"] == "client_error"
    assert error["details"]["code"] == 21211
    assert error["details"]["more_info"] == "https://www.twilio.com/docs/errors/21211"
    assert "The 'To' number +1555 is not a valid phone number" in error["message"]


async def test_server_errors_are_retried_until_the_attempts_run_out(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    site.twilio.scripted += [(500, None)] * 3
    body = await save_and_run(platform, account, workflow(sms_step()))
    step = steps_by_id(body)["send"]
    assert step["status"] == "failed" and step["attempt"] == 3
    assert step["error"]["kind"] == "server_error" and step["error"]["details"]["status"] == 500
    assert site.twilio.sent == []


async def test_credentials_are_named_secrets_and_a_missing_one_is_named(
    platform: httpx.AsyncClient, site: Site
) -> None:
    other = await signup(platform)
    await platform.put(
        "/api/secrets/SHOP_TWILIO_SID", json={"value": ACCOUNT_SID}, headers=other.headers
    )
    await platform.put(
        "/api/secrets/SHOP_TWILIO_TOKEN", json={"value": AUTH_TOKEN}, headers=other.headers
    )
    named = sms_step(account_sid_secret="SHOP_TWILIO_SID", auth_token_secret="SHOP_TWILIO_TOKEN")
    body = await save_and_run(platform, other, workflow(named, sms_step("default")))
    steps = steps_by_id(body)
    assert steps["send"]["status"] == "succeeded"
    missing = steps["default"]["error"]
    assert missing["kind"] == "client_error"
    assert "'TWILIO_ACCOUNT_SID'" in missing["message"] and "does not exist" in missing["message"]
    assert AUTH_TOKEN not in json.dumps(body)


async def test_the_api_sends_and_maps_refusals_to_problems(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    message = {"to": "+15558675310", "from": FROM, "body": "hi"}
    headers = {**account.headers, "Idempotency-Key": "order-77"}
    first = await platform.post("/api/sms/messages", json=message, headers=headers)
    assert first.status_code == 201, first.text
    again = await platform.post("/api/sms/messages", json=message, headers=headers)
    assert again.json()["sid"] == first.json()["sid"]
    assert len(site.twilio.sent) == 1  # the repeat was recognised by its token

    refused = await platform.post(
        "/api/sms/messages", json={**message, "to": "+1555"}, headers=account.headers
    )
    problem = assert_problem(refused, 422)
    assert problem["provider"]["code"] == 21211

    site.twilio.scripted.append((429, "7"))
    throttled = await platform.post("/api/sms/messages", json=message, headers=account.headers)
    assert_problem(throttled, 429)
    assert throttled.headers["retry-after"] == "7"

    both = await platform.post(
        "/api/sms/messages",
        json={**message, "messaging_service_sid": "MG" + "0" * 32},
        headers=account.headers,
    )
    assert_problem(both, 422)
    anonymous = await platform.post("/api/sms/messages", json=message)
    assert_problem(anonymous, 401)


def test_the_stand_in_refuses_a_wrong_password(site: Site) -> None:
    api = TwilioApi({ACCOUNT_SID: AUTH_TOKEN})
    pair = base64.b64encode(f"{ACCOUNT_SID}:wrong".encode()).decode()
    status, _, body = api.handle(
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        {"authorization": f"Basic {pair}"},
        b"",
    )
    assert status == 401 and json.loads(body)["code"] == 20003

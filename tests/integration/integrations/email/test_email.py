"""email.send over SMTP to a real server (aiosmtpd): the message as delivered, the login
from secrets, a Message-ID stable for one idempotency key, and the SSRF guard on own hosts."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from auterity.integrations.email.service import message_id
from tests.integration.automatrix.conftest import save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.integrations.conftest import Site, store_secrets
from tests.integration.integrations.email.smtp_server import PASSWORD, USER


def mail(step_id: str = "mail", **with_: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "uses": "email.send",
        "with": {
            "to": "Ana <ana@example.com>",
            "subject": "Daily digest",
            "text": "Three things happened.",
            **with_,
        },
        "retry": {"max_attempts": 1},
        "on_error": "continue",
    }


def workflow(*steps: dict[str, Any]) -> str:
    return json.dumps({"name": f"mail-{uuid.uuid4().hex[:8]}", "steps": list(steps)})


async def test_a_multipart_message_with_cc_bcc_and_an_attachment_is_delivered(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    await store_secrets(platform, account, SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD)
    step = mail(
        cc=["bo@example.com"],
        bcc="audit@example.com",
        html="<p>Three things <b>happened</b>.</p>",
        reply_to=["support@example.com"],
        attachments=[{"filename": "digest.csv", "content_type": "text/csv", "text": "a,b\n1,2\n"}],
    )
    body = await save_and_run(platform, account, workflow(step))
    output = steps_by_id(body)["mail"]["output"]
    assert body["status"] == "succeeded", body
    (received,) = site.smtp.received
    assert received.sender == "robot@example.com"
    assert sorted(received.recipients) == ["ana@example.com", "audit@example.com", "bo@example.com"]
    message = received.message
    assert message["To"] == "Ana <ana@example.com>" and message["Cc"] == "bo@example.com"
    assert message["Bcc"] is None  # bcc travels in the envelope only
    assert message["Reply-To"] == "support@example.com"
    assert message["Message-ID"] == output["message_id"]
    assert message.get_body(("plain",)).get_content().strip() == "Three things happened."
    assert "<b>happened</b>" in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "digest.csv"
    assert attachment.get_content() == "a,b\n1,2\n"
    assert PASSWORD not in json.dumps(body)


async def test_the_same_idempotency_key_gives_the_same_message_id(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    payload = {"to": ["ana@example.com"], "subject": "Hi", "text": "once"}
    headers = {**account.headers, "Idempotency-Key": "digest-2026-11-25"}
    first = await platform.post("/api/email/messages", json=payload, headers=headers)
    second = await platform.post("/api/email/messages", json=payload, headers=headers)
    other = await platform.post("/api/email/messages", json=payload, headers=account.headers)
    assert first.status_code == 201, first.text
    assert first.json()["message_id"] == second.json()["message_id"]
    assert other.json()["message_id"] != first.json()["message_id"]
    assert [r.message["Message-ID"] for r in site.smtp.received][:2] == [
        first.json()["message_id"]
    ] * 2
    # A retried step has the same idempotency key: built from the run and the step.
    body = await save_and_run(platform, account, workflow(mail()))
    expected = message_id(f"{body['id']}:mail", "robot@example.com")
    assert steps_by_id(body)["mail"]["output"]["message_id"] == expected


async def test_refusals_and_wrong_logins_fail_with_smtp_codes(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    await store_secrets(platform, account, SMTP_USERNAME=USER, SMTP_PASSWORD="wrong")
    body = await save_and_run(platform, account, workflow(mail()))
    error = steps_by_id(body)["mail"]["error"]
    assert error["kind"] == "client_error" and error["details"]["code"] == 535
    assert "login failed" in error["message"]

    await store_secrets(platform, account, SMTP_PASSWORD=PASSWORD)
    spec = workflow(mail("bounce", to="x@bounce.example.com"),
                    mail("partly", to=["ana@example.com", "y@bounce.example.com"]))  # fmt: skip
    steps = steps_by_id(await save_and_run(platform, account, spec))
    assert steps["bounce"]["error"]["kind"] == "client_error"
    assert "550" in steps["bounce"]["error"]["details"]["refused"]["x@bounce.example.com"]
    partly = steps["partly"]["output"]
    assert partly["accepted"] == ["ana@example.com"]
    assert partly["refused"]["y@bounce.example.com"].startswith("550")


async def test_a_step_naming_its_own_host_goes_through_the_network_policy(
    platform: httpx.AsyncClient, account: Account, site: Site
) -> None:
    allowed = mail("own", host="127.0.0.1", port=site.smtp.port, security="none")
    blocked = mail("internal", host="10.0.0.7", port=25, security="none")
    steps = steps_by_id(await save_and_run(platform, account, workflow(allowed, blocked)))
    assert steps["own"]["status"] == "succeeded"  # 127.0.0.1 is allowed in these settings
    error = steps["internal"]["error"]
    assert error["kind"] == "client_error" and error["details"]["address"] == "10.0.0.7"
    bad = await platform.post(
        "/api/email/messages",
        json={"to": "not an address", "subject": "x", "text": "y"},
        headers=account.headers,
    )
    assert_problem(bad, 422)
    attachment = base64.b64encode(b"\x00\x01").decode()
    ok = await platform.post(
        "/api/email/messages",
        json={"to": "ana@example.com", "subject": "x", "html": "<i>y</i>",
              "attachments": [{"filename": "b.bin", "content_base64": attachment}]},
        headers=account.headers,
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
    (binary,) = site.smtp.received[-1].message.iter_attachments()
    assert binary.get_content() == b"\x00\x01"

"""A stand-in for Twilio's Messages API speaking its wire format: the real path, basic auth
with the account SID and auth token, form bodies, the Message resource as JSON (201), and
Twilio's error JSON (`code`, `message`, `more_info`, `status`) for 400, 401 and 429.

`I-Twilio-Idempotency-Token` is honoured as Twilio does: a repeated token gets the first
answer and sends nothing more.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

from tests.integration.integrations.standin import Answer, StandIn

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")  # Twilio refuses numbers too short to exist


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class Sent:
    account_sid: str
    form: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class TwilioApi:
    accounts: dict[str, str]  # account SID -> auth token
    sent: list[Sent] = field(default_factory=list)
    # Answers given before the next sends, in order: (status, retry-after or None).
    scripted: list[tuple[int, str | None]] = field(default_factory=list)
    seen_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> StandIn:
        return StandIn(self.handle).start()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        match = MESSAGES.match(path.split("?", 1)[0])
        if match is None or method != "POST":
            return _json(
                404, twilio_error(404, 20404, f"The requested resource {path} was not found")
            )
        sid = match.group(1)
        if not self._authorised(sid, headers.get("authorization", "")):
            return _json(401, twilio_error(401, 20003, "Authenticate"))
        with self.lock:
            if self.scripted:
                status, retry_after = self.scripted.pop(0)
                extra = {"Retry-After": retry_after} if retry_after else {}
                if status == 429:
                    return _json(429, twilio_error(429, 20429, "Too Many Requests"), extra)
                return _json(status, twilio_error(status, 20500, "Internal Server Error"), extra)
        if headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return _json(400, twilio_error(400, 20001, "Content-Type must be form-encoded"))
        form = parse_qs(body.decode(), keep_blank_values=True)
        to = (form.get("To") or [""])[0]
        if not E164.match(to):
            return _json(
                400, twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            )
        if "From" not in form and "MessagingServiceSid" not in form:
            return _json(400, twilio_error(400, 21603, "A 'From' phone number is required."))
        if not form.get("Body") and not form.get("MediaUrl"):
            return _json(400, twilio_error(400, 21602, "Message body is required."))
        token = headers.get("i-twilio-idempotency-token")
        with self.lock:
            if token and token in self.seen_tokens:
                return _json(201, self.seen_tokens[token])
            self.sent.append(Sent(sid, form, headers))
            message = _message(sid, form)
            if token:
                self.seen_tokens[token] = message
        return _json(201, message)

    def _authorised(self, sid: str, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user == sid and self.accounts.get(sid) == password


def _message(account_sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    sid = f"SM{uuid.uuid4().hex}"
    now = formatdate(usegmt=True)
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": (form.get("Body") or [""])[0],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": (form.get("From") or [None])[0],
        "messaging_service_sid": (form.get("MessagingServiceSid") or [None])[0],
        "num_media": str(len(form.get("MediaUrl") or [])),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if "MessagingServiceSid" in form else "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "to": form["To"][0],
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )

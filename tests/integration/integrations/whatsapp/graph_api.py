"""A stand-in for the WhatsApp Cloud API (Meta's Graph API) speaking its wire format:
`POST /{version}/{phone_number_id}/messages` with a Bearer token and a JSON message, the
success body (`messaging_product`, `contacts`, `messages[].id`), and Graph's error body
(`error.message`, `type`, `code`, `error_subcode`, `error_data`, `fbtrace_id`).

Recipients starting +1555000 are "not in the allowed list" (131030, as a test number's
sandbox answers); `throttle` makes the next sends hit the throughput limit (130429).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.integration.integrations.standin import Answer, StandIn

MESSAGES = re.compile(r"^/(v\d+\.\d+)/(\d+)/messages$")


def graph_error(
    code: int, message: str, subcode: int | None = None, details: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": f"A{uuid.uuid4().hex[:22]}",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@dataclass
class GraphApi:
    numbers: dict[str, str]  # phone number id -> access token
    sent: list[dict[str, Any]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    throttle: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> StandIn:
        return StandIn(self.handle).start()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        match = MESSAGES.match(path.split("?", 1)[0])
        if match is None or method != "POST":
            return _json(400, graph_error(100, "Unsupported post request.", 33))
        version, number = match.groups()
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self.numbers.get(number) != token:
            return _json(
                401, graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            )
        if not headers.get("content-type", "").startswith("application/json"):
            return _json(400, graph_error(100, "Invalid parameter"))
        try:
            message = json.loads(body)
        except ValueError:
            return _json(400, graph_error(100, "Invalid parameter"))
        with self.lock:
            if self.throttle:
                self.throttle -= 1
                return _json(400, graph_error(130429, "(#130429) Rate limit hit"))
        if message.get("messaging_product") != "whatsapp":
            return _json(
                400, graph_error(100, "(#100) The parameter messaging_product is required.")
            )
        to = str(message.get("to", ""))
        if to.startswith("1555000"):
            return _json(
                400,
                graph_error(
                    131030,
                    "(#131030) Recipient phone number not in allowed list",
                    2655007,
                    "Recipient phone number not in allowed list: Add recipient phone number "
                    "to recipient list and try again.",
                ),
            )
        with self.lock:
            self.sent.append(message)
            self.versions.append(version)
        return _json(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.{uuid.uuid4().hex.upper()}"}],
            },
        )


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

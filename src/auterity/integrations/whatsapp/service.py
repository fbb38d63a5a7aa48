"""Sending WhatsApp messages through Meta's Cloud API (Graph API), over the guarded client.

`POST {base}/{version}/{phone_number_id}/messages` with the tenant's access token as a
Bearer token. Graph's error body (`error.code`, `error_subcode`, `fbtrace_id`) becomes an
`IntegrationError`; its throttling codes are `rate_limited`, so the engine waits and retries.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from auterity.core.outbound import OutboundHttp, OutboundHttpError, retry_after_seconds
from auterity.integrations.errors import IntegrationError, from_outbound

ACCESS_TOKEN_SECRET = "WHATSAPP_ACCESS_TOKEN"  # noqa: S105 - a secret's name
APP_SECRET_SECRET = "WHATSAPP_APP_SECRET"  # noqa: S105
VERIFY_TOKEN_SECRET = "WHATSAPP_VERIFY_TOKEN"  # noqa: S105
# Graph's throttling codes: app (4), account (80007), throughput (130429), spam (131048),
# pair rate (131056). https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
# Temporary failures on Meta's side: unknown (1), service (2), something went wrong (131000),
# service unavailable (131016).
SERVER_CODES = frozenset({1, 2, 131000, 131016})


@dataclass(frozen=True)
class SentWhatsApp:
    message_id: str
    wa_id: str | None
    raw: dict[str, Any]


class WhatsAppCloud:
    def __init__(
        self,
        http: OutboundHttp,
        base_url: str = "https://graph.facebook.com",
        version: str = "v21.0",
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.version = version

    def messages_url(self, phone_number_id: str) -> str:
        return f"{self.base_url}/{self.version}/{quote(phone_number_id, safe='')}/messages"

    async def send(
        self,
        access_token: str,
        phone_number_id: str,
        message: dict[str, Any],
        *,
        tenant_id: uuid.UUID | None = None,
    ) -> SentWhatsApp:
        """Send `message`, a Cloud API message object (`to`, `type` and its part)."""
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", **message}
        try:
            answer = await self.http.request(
                "POST",
                self.messages_url(phone_number_id),
                headers={
                    "Authorization": f"Bearer {access_token}",
                    "Content-Type": "application/json",
                },
                content=json.dumps(payload, ensure_ascii=False).encode(),
                follow_redirects=False,
                tenant_id=tenant_id,
            )
        except OutboundHttpError as exc:
            raise from_outbound(exc, "WhatsApp") from None
        try:
            body = json.loads(answer.content) if answer.content else None
        except ValueError:
            body = None
        if answer.status >= 400 or (isinstance(body, dict) and "error" in body):
            raise graph_error(answer.status, body, answer.headers.get("retry-after"))
        messages = body.get("messages") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or not messages
            or not isinstance(messages[0], dict)
            or "id" not in messages[0]
        ):
            raise IntegrationError(
                f"WhatsApp answered {answer.status} without a message id", kind="server_error"
            )
        contacts = body.get("contacts") or [{}]
        return SentWhatsApp(
            message_id=str(messages[0]["id"]), wa_id=contacts[0].get("wa_id"), raw=body
        )


def graph_error(status: int, body: Any, retry_after: str | None) -> IntegrationError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    details = {
        "status": status,
        **{
            k: error[k]
            for k in ("code", "error_subcode", "type", "message", "fbtrace_id")
            if error.get(k) is not None
        },
    }
    extra = error.get("error_data")
    if isinstance(extra, dict) and extra.get("details"):
        details["details"] = extra["details"]
    if status == 429 or code in RATE_LIMIT_CODES:
        kind = "rate_limited"
    elif status >= 500 or code in SERVER_CODES:
        kind = "server_error"
    else:
        kind = "client_error"
    shown = f" (code {code})" if code is not None else ""
    return IntegrationError(
        f"WhatsApp refused the message{shown}: {error.get('message') or f'HTTP {status}'}",
        kind=kind,
        details=details,
        retry_after=retry_after_seconds(retry_after) if kind == "rate_limited" else None,
    )

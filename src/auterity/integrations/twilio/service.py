"""Sending SMS/MMS through Twilio's Messages API, over the platform's SSRF-guarded client.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth
with the account SID and auth token, and `I-Twilio-Idempotency-Token` so a retried send is
recognised by Twilio instead of sending the text twice. Twilio's error bodies
(`code`, `message`, `more_info`) become `IntegrationError`s whose kind says whether to retry.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from auterity.core.outbound import OutboundHttp, OutboundHttpError, retry_after_seconds
from auterity.integrations.credentials import SecretReader, read_credential
from auterity.integrations.errors import IntegrationError, from_outbound

ACCOUNT_SID_SECRET = "TWILIO_ACCOUNT_SID"  # noqa: S105 - a secret's name
AUTH_TOKEN_SECRET = "TWILIO_AUTH_TOKEN"  # noqa: S105 - a secret's name, not its value
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str = field(repr=False)

    @classmethod
    async def read(
        cls,
        read: SecretReader,
        account_sid_secret: str = ACCOUNT_SID_SECRET,
        auth_token_secret: str = AUTH_TOKEN_SECRET,
    ) -> TwilioCredentials:
        return cls(
            await read_credential(read, account_sid_secret, "the Twilio account SID"),
            await read_credential(read, auth_token_secret, "the Twilio auth token"),
        )

    def authorization(self) -> str:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


@dataclass(frozen=True)
class SmsMessage:
    """One message: `sender` is a phone number or short code, or give a messaging service."""

    to: str
    body: str | None = None
    sender: str | None = None
    messaging_service_sid: str | None = None
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None

    def form(self) -> list[tuple[str, str]]:
        fields = [("To", self.to)]
        if self.sender:
            fields.append(("From", self.sender))
        if self.messaging_service_sid:
            fields.append(("MessagingServiceSid", self.messaging_service_sid))
        if self.body is not None:
            fields.append(("Body", self.body))
        fields += [("MediaUrl", url) for url in self.media_urls]
        if self.status_callback:
            fields.append(("StatusCallback", self.status_callback))
        return fields


@dataclass(frozen=True)
class SentSms:
    """Twilio's Message resource as it answered the send (status is usually `queued`)."""

    sid: str
    status: str
    to: str | None
    sender: str | None
    num_segments: int | None
    raw: dict[str, Any]


class TwilioSms:
    def __init__(self, http: OutboundHttp, base_url: str = "https://api.twilio.com") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def messages_url(self, account_sid: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"

    async def send(
        self,
        credentials: TwilioCredentials,
        message: SmsMessage,
        *,
        idempotency_key: str | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> SentSms:
        headers = {
            "Authorization": credentials.authorization(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            answer = await self.http.request(
                "POST",
                self.messages_url(credentials.account_sid),
                headers=headers,
                content=urlencode(message.form()).encode(),
                follow_redirects=False,
                tenant_id=tenant_id,
            )
        except OutboundHttpError as exc:
            raise from_outbound(exc, "Twilio") from None
        body = _json(answer.content)
        if answer.status >= 400:
            raise twilio_error(answer.status, body, answer.headers.get("retry-after"))
        if not isinstance(body, dict) or not isinstance(body.get("sid"), str):
            raise IntegrationError(
                f"Twilio answered {answer.status} without a message SID", kind="server_error"
            )
        segments = str(body.get("num_segments") or "")
        return SentSms(
            sid=body["sid"],
            status=str(body.get("status") or "queued"),
            to=body.get("to"),
            sender=body.get("from"),
            num_segments=int(segments) if segments.isdigit() else None,
            raw=body,
        )


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


def twilio_error(status: int, body: Any, retry_after: str | None) -> IntegrationError:
    """Twilio's error JSON (`code`, `message`, `more_info`, `status`) as an IntegrationError."""
    error = body if isinstance(body, dict) else {}
    details = {
        "status": status,
        **{k: error[k] for k in ("code", "message", "more_info") if error.get(k) is not None},
    }
    message = error.get("message") or f"HTTP {status}"
    code = f" (error {error['code']})" if error.get("code") is not None else ""
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "client_error"  # 401 bad credentials, 400 a bad number: retrying cannot help
    wait = retry_after_seconds(retry_after) if status in (429, 503) else None
    return IntegrationError(
        f"Twilio refused the message{code}: {message}",
        kind=kind,
        details=details,
        retry_after=wait,
    )

"""Twilio's webhooks: `X-Twilio-Signature` checked with the official `RequestValidator`,
then an inbound message or a delivery status as the event data a workflow receives.

Twilio signs the exact URL it was told to call plus the sorted form fields with the
account's auth token (HMAC-SHA1; HMAC-SHA256 when the request says so in
`X-Twilio-Webhooks-Signature-Settings`), so behind a proxy the URL is rebuilt from the
platform's public URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from auterity.core.errors import BadRequest, Unauthenticated

Fields = ImmutableMultiDict[str, str]


def parse_form(body: bytes) -> Fields:
    try:
        return ImmutableMultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise BadRequest("The webhook body is not UTF-8 form data.") from None


def verify_twilio_signature(
    auth_token: str, url: str, fields: Fields, signature: str | None, settings: str | None
) -> None:
    """Unauthenticated unless Twilio signed exactly this URL and these fields."""
    if not signature:
        raise Unauthenticated(f"This webhook needs Twilio's {SIGNATURE_HEADER} header.")
    algorithm = get_signature_algorithm(settings)
    if not RequestValidator(auth_token).validate(url, fields, signature, algorithm):
        raise Unauthenticated(
            f"The {SIGNATURE_HEADER} header does not match this URL and body; check that the "
            "webhook URL configured at Twilio is exactly the one Twilio calls (the platform's "
            "AUTERITY_PUBLIC_URL behind a proxy) and that TWILIO_AUTH_TOKEN is current."
        )


def received_message(fields: Fields) -> dict[str, Any]:
    """The data of an `sms.received` event."""
    declared = fields.get("NumMedia", "")
    count = int(declared) if declared.isdigit() else 0
    media = [
        {"url": fields[f"MediaUrl{i}"], "content_type": fields.get(f"MediaContentType{i}")}
        for i in range(count)
        if f"MediaUrl{i}" in fields
    ]
    return {
        "message_sid": fields.get("MessageSid") or fields.get("SmsSid"),
        "account_sid": fields.get("AccountSid"),
        "messaging_service_sid": fields.get("MessagingServiceSid"),
        "from": fields.get("From"),
        "to": fields.get("To"),
        "body": fields.get("Body", ""),
        "num_media": count,
        "media": media,
    }


def message_status(fields: Fields) -> dict[str, Any]:
    """The data of an `sms.status` event (a status callback)."""
    error_code = fields.get("ErrorCode")
    return {
        "message_sid": fields.get("MessageSid") or fields.get("SmsSid"),
        "account_sid": fields.get("AccountSid"),
        "status": fields.get("MessageStatus") or fields.get("SmsStatus"),
        "error_code": int(error_code) if error_code and error_code.isdigit() else None,
        "from": fields.get("From"),
        "to": fields.get("To"),
    }


def empty_twiml() -> str:
    """A TwiML answer that sends no reply (a workflow replies with sms.send if it wants)."""
    return str(MessagingResponse())


__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "Fields",
    "empty_twiml",
    "message_status",
    "parse_form",
    "received_message",
    "verify_twilio_signature",
]

"""The Cloud API's webhook: the subscription handshake, `X-Hub-Signature-256` (HMAC-SHA256
of the raw body under the app secret), and the messages and statuses a delivery carries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from auterity.core.errors import BadRequest, PermissionDenied, Unauthenticated

SIGNATURE_HEADER = "X-Hub-Signature-256"


def verify_subscription(mode: str | None, token: str | None, expected: str) -> None:
    """Meta's GET handshake: `hub.mode=subscribe` and the verify token you gave Meta."""
    if mode != "subscribe" or not token or not hmac.compare_digest(token, expected):
        raise PermissionDenied(
            "The verify token does not match WHATSAPP_VERIFY_TOKEN (or hub.mode is not "
            "'subscribe')."
        )


def verify_hub_signature(app_secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise Unauthenticated(f"This webhook needs Meta's {SIGNATURE_HEADER} header.")
    scheme, _, signature = header.partition("=")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if scheme != "sha256" or not hmac.compare_digest(signature.lower(), expected):
        raise Unauthenticated(
            f"The {SIGNATURE_HEADER} header does not match the body; check WHATSAPP_APP_SECRET."
        )


def parse_delivery(body: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `whatsapp.received` and `whatsapp.status` event data in one delivery."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"The webhook body is not JSON: {exc}") from None
    received: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") or {}
            names = {
                c.get("wa_id"): (c.get("profile") or {}).get("name")
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                received.append(_message(message, metadata, names))
            for status in value.get("statuses") or []:
                statuses.append(_status(status, metadata))
    return received, statuses


def _message(
    message: dict[str, Any], metadata: dict[str, Any], names: dict[Any, Any]
) -> dict[str, Any]:
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    text = None
    if kind == "text" and isinstance(part, dict):
        text = part.get("body")
    elif kind == "button" and isinstance(part, dict):
        text = part.get("text")
    elif isinstance(part, dict):
        text = part.get("caption")
    return {
        "message_id": message.get("id"),
        "from": message.get("from"),
        "profile_name": names.get(message.get("from")),
        "phone_number_id": metadata.get("phone_number_id"),
        "display_phone_number": metadata.get("display_phone_number"),
        "timestamp": message.get("timestamp"),
        "type": kind,
        "text": text,
        "message": message,
    }


def _status(status: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": status.get("id"),
        "status": status.get("status"),
        "recipient_id": status.get("recipient_id"),
        "timestamp": status.get("timestamp"),
        "phone_number_id": metadata.get("phone_number_id"),
        "errors": status.get("errors") or [],
    }

"""AuthnRequest ids that prove themselves: a response's InResponseTo must be one we issued.

The id carries a nonce, an expiry and an HMAC over both and the provider, so checking it
needs no table; replays of the response are stopped by the consumed-assertion table instead.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from auterity.core.clock import utcnow
from auterity.core.crypto import TokenHasher

# Long enough for a password reset and an MFA prompt at the IdP.
REQUEST_TTL = timedelta(minutes=15)


def _message(provider_id: uuid.UUID, nonce: str, expires: str) -> str:
    return f"saml-authn-request:{provider_id}:{nonce}:{expires}"


def new_request_id(hasher: TokenHasher, provider_id: uuid.UUID) -> str:
    """An xsd:ID (starts with `_`, no colons) valid for REQUEST_TTL."""
    nonce = secrets.token_hex(12)
    expires = str(int((utcnow() + REQUEST_TTL).timestamp()))
    return f"_{nonce}.{expires}.{hasher.digest(_message(provider_id, nonce, expires))}"


def is_our_request(hasher: TokenHasher, provider_id: uuid.UUID, request_id: str) -> bool:
    """True when `request_id` was issued by `new_request_id` for this provider and is fresh."""
    parts = request_id.removeprefix("_").split(".")
    if not request_id.startswith("_") or len(parts) != 3:
        return False
    nonce, expires, mac = parts
    if not expires.isdigit() or int(expires) < utcnow().timestamp():
        return False
    return hasher.matches(_message(provider_id, nonce, expires), mac)

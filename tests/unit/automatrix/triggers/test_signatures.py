"""Webhook signatures: what a sender signs, the tolerance window, and malformed headers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from auterity.automatrix.triggers.signatures import sign, verify_signature
from auterity.core.errors import Unauthenticated

SECRET = "whsec_test"
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
TOLERANCE = timedelta(minutes=5)
BODY = b'{"lead": "Ada"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    stamp = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, stamp, BODY) == f"t={stamp},v1={expected}"
    assert verify_signature(sign(SECRET, stamp, BODY), SECRET, BODY, NOW, TOLERANCE) == expected


def test_any_of_several_v1_values_may_match() -> None:
    stamp = int(NOW.timestamp())
    good = sign(SECRET, stamp, BODY).split(",")[1]
    header = f"t={stamp},v1={'0' * 64},{good}"
    assert verify_signature(header, SECRET, BODY, NOW, TOLERANCE)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "needs an X-Auterity-Signature"),
        ("v1=abc", "must read"),
        ("t=abc,v1=abc", "must read"),
        (sign("other-secret", int(NOW.timestamp()), BODY), "does not match"),
        (sign(SECRET, int(NOW.timestamp()), BODY + b" "), "does not match"),
        (sign(SECRET, int((NOW - timedelta(minutes=6)).timestamp()), BODY), "more than 300"),
        (sign(SECRET, int((NOW + timedelta(minutes=6)).timestamp()), BODY), "more than 300"),
    ],
)
def test_refusals_say_why(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        verify_signature(header, SECRET, BODY, NOW, TOLERANCE)

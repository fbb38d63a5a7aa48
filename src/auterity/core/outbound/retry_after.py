"""Reading a server's `Retry-After` (RFC 9110 §10.2.3): how long a 429 or 503 asks to wait."""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

from auterity.core.clock import utcnow


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())

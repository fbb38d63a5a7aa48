"""What a policy can test about a request: who, from where, when, with which device, how often.

Validated on write, so a stored policy always compiles; each bad value is reported with the
JSON pointer of the field (`/conditions/source_ips/1`) and, where it helps, the fix.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from auterity.core.schemas import StrictModel

Effect = Literal["allow", "deny", "require_mfa"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_ITEMS = 500
_HEX = re.compile(r"^[0-9a-f]+$")


def network(value: str) -> str:
    """A CIDR range (or one address) in canonical form; host bits set is a mistake."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or CIDR range (e.g. 203.0.113.0/24)"
            ) from None
        raise ValueError(f"{value!r} has host bits set; the range it names is {loose}") from None


def fingerprint(value: str) -> str:
    """A certificate fingerprint as lowercase hex: SHA-256 (64 digits) or SHA-1 (40)."""
    normalised = value.replace(":", "").strip().lower()
    if not _HEX.match(normalised) or len(normalised) not in (40, 64):
        raise ValueError(
            "expected a SHA-256 (64 hex digits) or SHA-1 (40 hex digits) certificate "
            "fingerprint, colons allowed"
        )
    return normalised


def path_prefix(value: str) -> str:
    if not value.startswith("/") or any(ch.isspace() for ch in value):
        raise ValueError("a path prefix starts with '/' and has no spaces, e.g. /api/secrets")
    return value.rstrip("/") or "/"


Network = Annotated[str, AfterValidator(network)]
Fingerprint = Annotated[str, AfterValidator(fingerprint)]
PathPrefix = Annotated[str, Field(max_length=500), AfterValidator(path_prefix)]
Method = Annotated[HttpMethod, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]


class TimeWindow(StrictModel):
    """Local hours on some days; `end` before `start` runs past midnight into the next day."""

    timezone: str = "UTC"
    days: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    start: time
    end: time

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
            ) from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _local_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give a local time like 09:00; the zone goes in `timezone`")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal; leave the window out to mean all day")
        return self


class RateThreshold(StrictModel):
    """More than `requests` by one principal within `per_seconds`."""

    requests: int = Field(ge=1, le=1_000_000)
    per_seconds: int = Field(default=60, ge=1, le=86_400)


class PolicyConditions(StrictModel):
    """Every condition given must hold for the policy to match; none given matches everything.

    `not_*` variants match when the value is absent or outside the list, so "deny unless
    from the office" is `not_source_ips`. `mfa_max_age_seconds` belongs to `require_mfa`:
    the policy is satisfied (and evaluation goes on) when MFA was done within that time.
    """

    principal_kinds: list[Literal["user", "api_key"]] | None = Field(
        default=None, min_length=1, max_length=2
    )
    user_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    api_key_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    roles: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=MAX_ITEMS
    )
    paths: list[PathPrefix] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    methods: list[Method] | None = Field(default=None, min_length=1, max_length=7)
    source_ips: list[Network] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    not_source_ips: list[Network] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    within_hours: TimeWindow | None = None
    outside_hours: TimeWindow | None = None
    client_cert_fingerprints: list[Fingerprint] | None = Field(
        default=None, min_length=1, max_length=MAX_ITEMS
    )
    not_client_cert_fingerprints: list[Fingerprint] | None = Field(
        default=None, min_length=1, max_length=MAX_ITEMS
    )
    rate_above: RateThreshold | None = None
    mfa_max_age_seconds: int | None = Field(default=None, ge=0, le=30 * 86_400)

    def uses_client_certificates(self) -> bool:
        return bool(self.client_cert_fingerprints or self.not_client_cert_fingerprints)

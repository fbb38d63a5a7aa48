"""Deciding one request against a tenant's policies: highest priority first, first match wins.

Pure apart from the rate probe (which counts requests), so the same code enforces live
requests and answers dry runs. With no matching policy the request is allowed: policies
restrict; a tenant that wants deny-by-default adds a lowest-priority policy with no
conditions and effect `deny`, then `allow` policies above it.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from auterity.identity.policies.conditions import (
    WEEKDAYS,
    Effect,
    PolicyConditions,
    RateThreshold,
    TimeWindow,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RequestFacts:
    """What policies may look at: the principal, the request and its context."""

    principal_kind: str
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    role: str | None
    amr: tuple[str, ...]
    auth_time: datetime | None
    path: str
    method: str
    ip: str | None
    now: datetime
    client_cert: str | None = None  # normalised fingerprint, when the proxy passed one
    # On the routes a user needs to enrol in MFA, asking for MFA would lock them out.
    step_up_exempt: bool = False

    @property
    def principal_key(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"api_key:{self.api_key_id}"


@dataclass(frozen=True)
class Rule:
    """A stored policy, compiled for evaluation (networks parsed, zones resolved)."""

    id: uuid.UUID
    name: str
    priority: int
    effect: Effect
    conditions: PolicyConditions
    networks: tuple[IPNetwork, ...] = ()
    excluded_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def compile(cls, row: dict[str, Any]) -> Rule:
        conditions = PolicyConditions.model_validate(row["conditions"])
        return cls(
            id=uuid.UUID(str(row["id"])),
            name=row["name"],
            priority=row["priority"],
            effect=row["effect"],
            conditions=conditions,
            networks=tuple(ipaddress.ip_network(n) for n in conditions.source_ips or ()),
            excluded_networks=tuple(
                ipaddress.ip_network(n) for n in conditions.not_source_ips or ()
            ),
        )


@dataclass(frozen=True)
class Decision:
    effect: Effect
    rule: Rule | None  # None: no policy matched, allowed by default
    reason: str
    mfa_max_age_seconds: int | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


# Answers whether the principal is over `threshold` for `rule`; live checks count the request.
RateProbe = Callable[[Rule, RateThreshold, RequestFacts], Awaitable[bool]]
DEFAULT = Decision("allow", None, "no policy matched; requests are allowed by default")


async def evaluate(rules: Sequence[Rule], facts: RequestFacts, over_rate: RateProbe) -> Decision:
    """The decision of the first rule (in the given order) whose conditions all hold."""
    for rule in rules:
        reasons = static_match(rule, facts)
        if reasons is None:
            continue
        max_age = rule.conditions.mfa_max_age_seconds
        if rule.effect == "require_mfa":
            if facts.step_up_exempt or mfa_satisfied(facts, max_age):
                continue
            reasons.append(_mfa_reason(facts, max_age))
        threshold = rule.conditions.rate_above
        # Last, so a request is only counted by the rules it would otherwise meet.
        if threshold is not None:
            if not await over_rate(rule, threshold, facts):
                continue
            reasons.append(f"more than {threshold.requests} requests in {threshold.per_seconds} s")
        return Decision(rule.effect, rule, "; ".join(reasons), max_age)
    return DEFAULT


def static_match(rule: Rule, facts: RequestFacts) -> list[str] | None:
    """Why the rule's fixed conditions hold for `facts`, or None when one does not."""
    c = rule.conditions
    reasons: list[str] = []
    checks = (
        _principal(c, facts),
        _request(c, facts),
        _address(rule, facts),
        _hours(c, facts),
        _device(c, facts),
    )
    for found in checks:
        if found is None:
            return None
        reasons.extend(found)
    return reasons


def _principal(c: PolicyConditions, f: RequestFacts) -> list[str] | None:
    reasons = []
    if c.principal_kinds is not None:
        if f.principal_kind not in c.principal_kinds:
            return None
        reasons.append(f"principal is a {f.principal_kind}")
    if c.user_ids is not None:
        if f.user_id not in c.user_ids:
            return None
        reasons.append(f"user {f.user_id} is listed")
    if c.api_key_ids is not None:
        if f.api_key_id not in c.api_key_ids:
            return None
        reasons.append(f"API key {f.api_key_id} is listed")
    if c.roles is not None:
        if f.role not in c.roles:
            return None
        reasons.append(f"role {f.role} is listed")
    return reasons


def _request(c: PolicyConditions, f: RequestFacts) -> list[str] | None:
    reasons = []
    if c.paths is not None:
        prefix = next((p for p in c.paths if path_within(f.path, p)), None)
        if prefix is None:
            return None
        reasons.append(f"path {f.path} is under {prefix}")
    if c.methods is not None:
        if f.method.upper() not in c.methods:
            return None
        reasons.append(f"method is {f.method.upper()}")
    return reasons


def path_within(path: str, prefix: str) -> bool:
    """Prefix match on whole segments: /api/secrets covers /api/secrets/x, not /api/secretsx."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _address(rule: Rule, f: RequestFacts) -> list[str] | None:
    if not rule.networks and not rule.excluded_networks:
        return []
    address = _parse_address(f.ip)
    reasons = []
    if rule.networks:
        inside = next((n for n in rule.networks if address is not None and address in n), None)
        if inside is None:
            return None
        reasons.append(f"address {f.ip} is in {inside}")
    if rule.excluded_networks:
        # An unknown address counts as outside: a deny of "not from here" must not be dodged.
        if address is not None and any(address in n for n in rule.excluded_networks):
            return None
        reasons.append(f"address {f.ip or 'unknown'} is outside the listed ranges")
    return reasons


def _parse_address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _hours(c: PolicyConditions, f: RequestFacts) -> list[str] | None:
    reasons = []
    if c.within_hours is not None:
        if not in_window(c.within_hours, f.now):
            return None
        reasons.append(f"time is within {_describe(c.within_hours)}")
    if c.outside_hours is not None:
        if in_window(c.outside_hours, f.now):
            return None
        reasons.append(f"time is outside {_describe(c.outside_hours)}")
    return reasons


def in_window(window: TimeWindow, now: datetime) -> bool:
    """Whether `now` falls in the window, read on the wall clock of the window's zone."""
    local = now.astimezone(ZoneInfo(window.timezone))
    moment = local.time().replace(tzinfo=None)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    days = window.days
    if window.start < window.end:
        return (days is None or today in days) and window.start <= moment < window.end
    # Past midnight: the part after `start` belongs to today, the part before `end` to the
    # window that opened yesterday.
    if moment >= window.start:
        return days is None or today in days
    if moment < window.end:
        return days is None or yesterday in days
    return False


def _describe(window: TimeWindow) -> str:
    days = ",".join(window.days) if window.days else "every day"
    return f"{window.start:%H:%M}-{window.end:%H:%M} {window.timezone} ({days})"


def _device(c: PolicyConditions, f: RequestFacts) -> list[str] | None:
    reasons = []
    if c.client_cert_fingerprints is not None:
        if f.client_cert is None or f.client_cert not in c.client_cert_fingerprints:
            return None
        reasons.append("client certificate is listed")
    if c.not_client_cert_fingerprints is not None:
        if f.client_cert is not None and f.client_cert in c.not_client_cert_fingerprints:
            return None
        reasons.append(
            "no client certificate presented"
            if f.client_cert is None
            else "client certificate is not a trusted one"
        )
    return reasons


def mfa_satisfied(facts: RequestFacts, max_age_seconds: int | None) -> bool:
    if "mfa" not in facts.amr:
        return False
    if max_age_seconds is None:
        return True
    if facts.auth_time is None:
        return False
    return (facts.now - facts.auth_time).total_seconds() <= max_age_seconds


def _mfa_reason(facts: RequestFacts, max_age_seconds: int | None) -> str:
    if "mfa" not in facts.amr:
        return "this session did not use multi-factor authentication"
    return f"multi-factor authentication is older than {max_age_seconds} s"

"""The policy evaluator on its own: conditions, ordering, time windows, addresses, MFA."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from auterity.identity.policies.conditions import PolicyConditions, RateThreshold, TimeWindow
from auterity.identity.policies.enforcement import client_fingerprint, evaluation_order
from auterity.identity.policies.evaluation import RequestFacts, Rule, evaluate, in_window

# Tuesday 2026-03-10, 10:30 UTC (11:30 in Berlin, winter time).
TUESDAY = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
USER = uuid.uuid4()
FINGERPRINT = "ab" * 32


def facts(**overrides: Any) -> RequestFacts:
    values: dict[str, Any] = {
        "principal_kind": "user",
        "user_id": USER,
        "api_key_id": None,
        "role": "editor",
        "amr": ("pwd",),
        "auth_time": TUESDAY - timedelta(minutes=5),
        "path": "/api/workflows/1",
        "method": "GET",
        "ip": "203.0.113.7",
        "now": TUESDAY,
    }
    values.update(overrides)
    return RequestFacts(**values)


def rule(
    effect: str = "deny", priority: int = 0, name: str | None = None, **conditions: Any
) -> Rule:
    return Rule.compile(
        {
            "id": str(uuid.uuid4()),
            "name": name or f"{effect}-{priority}",
            "priority": priority,
            "effect": effect,
            "conditions": PolicyConditions.model_validate(conditions).model_dump(
                mode="json", exclude_none=True
            ),
        }
    )


async def never_over(rule: Rule, threshold: RateThreshold, facts: RequestFacts) -> bool:
    return False


async def always_over(rule: Rule, threshold: RateThreshold, facts: RequestFacts) -> bool:
    return True


async def decide(rules: list[Rule], request: RequestFacts, probe: Any = never_over) -> str:
    return (await evaluate(rules, request, probe)).effect


async def test_no_rules_allow_by_default() -> None:
    decision = await evaluate([], facts(), never_over)
    assert decision.allowed and decision.rule is None


async def test_first_matching_rule_decides_in_priority_order() -> None:
    allow_editors = rule("allow", priority=10, roles=["editor"])
    deny_all = rule("deny", priority=0)
    rows = [
        {"id": str(r.id), "name": r.name, "priority": r.priority} for r in (deny_all, allow_editors)
    ]
    ordered = [r["id"] for r in evaluation_order(rows)]
    assert ordered == [str(allow_editors.id), str(deny_all.id)]
    assert await decide([allow_editors, deny_all], facts()) == "allow"
    assert await decide([allow_editors, deny_all], facts(role="viewer")) == "deny"


async def test_every_condition_must_hold() -> None:
    r = rule(paths=["/api/secrets"], methods=["delete"], principal_kinds=["user"])
    assert await decide([r], facts(path="/api/secrets/x", method="DELETE")) == "deny"
    assert await decide([r], facts(path="/api/secrets/x", method="GET")) == "allow"
    assert await decide([r], facts(path="/api/secretsx", method="DELETE")) == "allow"
    assert (
        await decide(
            [r], facts(path="/api/secrets", method="DELETE", principal_kind="api_key", user_id=None)
        )
        == "allow"
    )


async def test_principal_lists() -> None:
    key = uuid.uuid4()
    by_user = rule(user_ids=[str(USER)])
    by_key = rule(api_key_ids=[str(key)])
    assert await decide([by_user], facts()) == "deny"
    assert await decide([by_user], facts(user_id=uuid.uuid4())) == "allow"
    as_key = facts(principal_kind="api_key", user_id=None, api_key_id=key, role=None)
    assert await decide([by_key], as_key) == "deny"
    assert await decide([by_key], facts()) == "allow"


async def test_source_ranges_and_their_negation() -> None:
    inside = rule(source_ips=["203.0.113.0/24", "2001:db8::/32"])
    outside = rule(not_source_ips=["198.51.100.0/24"])
    assert await decide([inside], facts()) == "deny"
    assert await decide([inside], facts(ip="2001:db8::1")) == "deny"
    assert await decide([inside], facts(ip="192.0.2.1")) == "allow"
    # IPv4 seen through a dual-stack socket is still that IPv4 address.
    assert await decide([inside], facts(ip="::ffff:203.0.113.9")) == "deny"
    assert await decide([outside], facts(ip="198.51.100.20")) == "allow"
    assert await decide([outside], facts()) == "deny"
    # Unknown address: never "inside", always "outside" (a deny cannot be dodged).
    assert await decide([inside], facts(ip=None)) == "allow"
    assert await decide([outside], facts(ip=None)) == "deny"
    assert await decide([outside], facts(ip="not-an-ip")) == "deny"


@pytest.mark.parametrize(
    ("window", "now", "inside"),
    [
        ({"start": "09:00", "end": "17:00"}, TUESDAY, True),
        ({"start": "09:00", "end": "10:30"}, TUESDAY, False),  # end is exclusive
        ({"start": "10:30", "end": "11:00"}, TUESDAY, True),
        ({"start": "09:00", "end": "17:00", "days": ["mon", "wed"]}, TUESDAY, False),
        # 10:30 UTC is 11:30 in Berlin in March (CET) ...
        ({"timezone": "Europe/Berlin", "start": "11:00", "end": "12:00"}, TUESDAY, True),
        # ... and 12:30 in July (CEST).
        (
            {"timezone": "Europe/Berlin", "start": "11:00", "end": "12:00"},
            TUESDAY.replace(month=7, day=14),
            False,
        ),
        # Overnight: Monday 22:00 to Tuesday 06:00 belongs to Monday.
        (
            {"start": "22:00", "end": "06:00", "days": ["mon"]},
            TUESDAY.replace(hour=3),
            True,
        ),
        (
            {"start": "22:00", "end": "06:00", "days": ["mon"]},
            TUESDAY.replace(hour=23),
            False,
        ),
        ({"start": "22:00", "end": "06:00", "days": ["tue"]}, TUESDAY.replace(hour=23), True),
        ({"start": "22:00", "end": "06:00"}, TUESDAY, False),
    ],
)
def test_time_windows(window: dict[str, Any], now: datetime, inside: bool) -> None:
    assert in_window(TimeWindow.model_validate(window), now) is inside


async def test_within_and_outside_hours() -> None:
    office = {"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"],
              "start": "08:00", "end": "18:00"}  # fmt: skip
    off_hours = rule(outside_hours=office)
    assert await decide([off_hours], facts()) == "allow"
    assert await decide([off_hours], facts(now=TUESDAY.replace(hour=20))) == "deny"
    assert await decide([off_hours], facts(now=TUESDAY + timedelta(days=4))) == "deny"  # Saturday
    during = rule(within_hours=office)
    assert await decide([during], facts()) == "deny"


async def test_require_mfa_is_satisfied_by_a_recent_second_factor() -> None:
    step_up = rule("require_mfa", paths=["/api/secrets"], mfa_max_age_seconds=600)
    request = facts(path="/api/secrets")
    decision = await evaluate([step_up], request, never_over)
    assert decision.effect == "require_mfa" and decision.mfa_max_age_seconds == 600
    assert "did not use multi-factor" in decision.reason
    fresh = replace(request, amr=("pwd", "mfa"))
    assert await decide([step_up], fresh) == "allow"
    stale = replace(fresh, auth_time=TUESDAY - timedelta(minutes=11))
    assert await decide([step_up], stale) == "require_mfa"
    unknown_login_time = replace(fresh, auth_time=None)
    assert await decide([step_up], unknown_login_time) == "require_mfa"
    # The enrolment routes never ask for MFA: that would make enrolling impossible.
    assert await decide([step_up], replace(request, step_up_exempt=True)) == "allow"


async def test_satisfied_step_up_lets_lower_rules_decide() -> None:
    step_up = rule("require_mfa", priority=10)
    deny_outside = rule("deny", priority=0, not_source_ips=["198.51.100.0/24"])
    assert await decide([step_up, deny_outside], facts(amr=("pwd", "mfa"))) == "deny"


async def test_client_certificate_conditions() -> None:
    trusted = rule("allow", priority=10, client_cert_fingerprints=[FINGERPRINT.upper()])
    untrusted = rule("deny", not_client_cert_fingerprints=[FINGERPRINT])
    assert await decide([trusted, untrusted], facts(client_cert=FINGERPRINT)) == "allow"
    assert await decide([trusted, untrusted], facts(client_cert="cd" * 32)) == "deny"
    assert await decide([trusted, untrusted], facts()) == "deny"


def test_fingerprints_from_proxy_headers() -> None:
    colons = ":".join([FINGERPRINT[i : i + 2] for i in range(0, 64, 2)]).upper()
    assert client_fingerprint(colons) == FINGERPRINT
    assert client_fingerprint(f'By=spiffe://x;Hash={FINGERPRINT};Subject="CN=a"') == FINGERPRINT
    assert client_fingerprint("garbage") is None
    assert client_fingerprint(None) is None


async def test_rate_condition_is_probed_last_and_only_when_the_rest_match() -> None:
    probed: list[str] = []

    async def probe(rule: Rule, threshold: RateThreshold, facts: RequestFacts) -> bool:
        probed.append(facts.path)
        return True

    burst = rule(paths=["/api/workflows"], rate_above={"requests": 5, "per_seconds": 60})
    assert await decide([burst], facts(path="/api/other"), probe) == "allow"
    assert probed == []
    decision = await evaluate([burst], facts(), probe)
    assert decision.effect == "deny" and "more than 5 requests in 60 s" in decision.reason
    assert await decide([burst], facts(), never_over) == "allow"


def pointers(exc: ValidationError) -> set[tuple[Any, ...]]:
    return {tuple(error["loc"]) for error in exc.errors()}


def test_conditions_are_validated_with_locations() -> None:
    with pytest.raises(ValidationError) as caught:
        PolicyConditions.model_validate(
            {
                "source_ips": ["203.0.113.0/24", "10.1.2.3/8", "nonsense"],
                "within_hours": {"timezone": "Mars/Olympus", "start": "09:00", "end": "09:00"},
                "methods": ["FETCH"],
                "paths": ["api"],
                "client_cert_fingerprints": ["xyz"],
                "rate_above": {"requests": 0},
                "colour": "red",
            }
        )
    found = pointers(caught.value)
    assert ("source_ips", 1) in found and ("source_ips", 2) in found
    assert ("within_hours", "timezone") in found
    assert ("methods", 0) in found and ("paths", 0) in found
    assert ("client_cert_fingerprints", 0) in found
    assert ("rate_above", "requests") in found and ("colour",) in found
    messages = " ".join(e["msg"] for e in caught.value.errors())
    assert "the range it names is 10.0.0.0/8" in messages


def test_empty_lists_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        PolicyConditions.model_validate({"roles": []})
    assert ("roles",) in pointers(caught.value)

"""Role mapping and email checks: which role a person's claims earn, and who may come in."""

from __future__ import annotations

import pytest

from auterity.identity.sso.provisioning import email_domain_allowed, map_role

MAPPING = {"claim": "groups", "map": {"admins": "admin", "devs": "editor", "qa": "tester"}}


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"groups": ["devs", "admins"]}, "admin"),  # the highest mapped role wins
        ({"groups": ["qa", "devs"]}, "editor"),  # custom ranks as editor; ties: built-in
        ({"groups": ["devs", "qa"]}, "editor"),  # whatever the order
        ({"groups": "devs"}, "editor"),  # a single string counts as one value
        ({"groups": ["staff"]}, "viewer"),  # nothing mapped: the default
        ({"groups": [{"not": "a string"}, 7]}, "viewer"),
        ({}, "viewer"),
    ],
)
def test_map_role(claims: dict[str, object], role: str) -> None:
    assert map_role({**MAPPING, "default_role": "viewer"}, claims) == role


def test_no_default_means_no_access() -> None:
    assert map_role({**MAPPING, "default_role": None}, {"groups": ["staff"]}) is None


def test_other_claim() -> None:
    mapping = {"claim": "roles", "map": {"Owner": "admin"}, "default_role": None}
    assert map_role(mapping, {"roles": ["Owner"], "groups": []}) == "admin"


@pytest.mark.parametrize(
    ("email", "allowed", "ok"),
    [
        ("a@example.com", [], True),
        ("a@example.com", ["example.com"], True),
        ("a@example.com", ["EXAMPLE.com"], True),
        ("a@sub.example.com", ["example.com"], False),  # exact domains only
        ("a@example.com.evil.test", ["example.com"], False),
        ("a@evil.test", ["example.com"], False),
    ],
)
def test_email_domain_allowed(email: str, allowed: list[str], ok: bool) -> None:
    assert email_domain_allowed(email, allowed) is ok

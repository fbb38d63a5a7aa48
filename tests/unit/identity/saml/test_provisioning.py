"""Which role and which email an assertion's attributes give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auterity.identity.saml.models import SamlProvider
from auterity.identity.saml.protocol import Assertion
from auterity.identity.saml.provisioning import check_domain, email_of, role_for
from auterity.identity.saml.refusal import LoginRefused


def provider(**fields: object) -> SamlProvider:
    values: dict[str, object] = {
        "name": "idp",
        "role_attribute": "groups",
        "role_mapping": {"ops": "editor", "leads": "admin", "audit": "auditor", "fin": "billing"},
        "default_role": "viewer",
        "allowed_email_domains": [],
        "email_attribute": None,
    }
    values.update(fields)
    return SamlProvider(**values)


def assertion(name_id: str | None, **attributes: list[str]) -> Assertion:
    return Assertion("_a", name_id, attributes, None, datetime.now(UTC))


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        ([], "viewer"),
        (["unknown"], "viewer"),
        (["ops"], "editor"),
        (["ops", "leads"], "admin"),
        (["leads", "ops"], "admin"),
        (["audit", "fin"], "auditor"),  # a custom role ranks as an editor, above billing
    ],
)
def test_highest_ranked_mapped_role_else_default(groups: list[str], role: str) -> None:
    assert role_for(provider(), {"groups": groups}) == role


def test_no_mapping_and_no_default_is_refused() -> None:
    with pytest.raises(LoginRefused) as refused:
        role_for(provider(default_role=None), {"groups": ["unknown"]})
    assert (refused.value.reason, refused.value.error.status) == ("no_role", 403)


def test_email_from_name_id_or_attribute_normalised() -> None:
    assert email_of(provider(), assertion("Ann@Corp.Example")) == "ann@corp.example"
    by_attribute = provider(email_attribute="mail")
    assert email_of(by_attribute, assertion("x", mail=["Bo@corp.example"])) == "bo@corp.example"
    for bad in [assertion(None), assertion("not-an-email"), assertion("x", other=["a@b.c"])]:
        with pytest.raises(LoginRefused) as refused:
            email_of(by_attribute if bad.name_id == "x" else provider(), bad)
        assert refused.value.reason == "no_email"


def test_allowed_domains_are_exact() -> None:
    limited = provider(allowed_email_domains=["corp.example"])
    check_domain(limited, "a@corp.example")
    check_domain(provider(), "a@anywhere.example")
    for email in ["a@evil.example", "a@sub.corp.example", "a@corp.example.evil"]:
        with pytest.raises(LoginRefused):
            check_domain(limited, email)

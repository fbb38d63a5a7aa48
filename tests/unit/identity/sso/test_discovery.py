"""Which provider URLs may be used: https, or http on loopback outside production."""

from __future__ import annotations

import pytest

from auterity.identity.sso.discovery import discovery_url_for, url_problem


@pytest.mark.parametrize(
    ("url", "loopback_ok", "allowed"),
    [
        ("https://login.example.com", False, True),
        ("http://login.example.com", True, False),
        ("http://127.0.0.1:8080", True, True),
        ("http://localhost:8080", True, True),
        ("http://[::1]:8080", True, True),
        ("http://127.0.0.1:8080", False, False),
        ("https://user:pw@login.example.com", False, False),
        ("ftp://login.example.com", True, False),
        ("/relative/path", True, False),
        ("http://[::1", True, False),
    ],
)
def test_url_problem(url: str, loopback_ok: bool, allowed: bool) -> None:
    assert (url_problem(url, allow_loopback_http=loopback_ok) is None) is allowed


def test_discovery_url_for() -> None:
    assert (
        discovery_url_for("https://idp.example.com/tenant/", None)
        == "https://idp.example.com/tenant/.well-known/openid-configuration"
    )
    assert discovery_url_for("https://idp.example.com", "https://x/meta") == "https://x/meta"

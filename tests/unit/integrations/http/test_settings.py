"""The outbound HTTP factory takes its allow-list and limits from the settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auterity.core.errors import SettingsError
from auterity.integrations.http import OutboundHttp
from tests.conftest import make_settings


def test_the_allow_list_comes_from_comma_separated_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1, 10.0.0.0/8,fd00::/8")
    monkeypatch.setenv("AUTERITY_HTTP_ALLOWED_PRIVATE_HOSTS", "DB.Internal., cache.internal")
    monkeypatch.setenv("AUTERITY_HTTP_MAX_RESPONSE_BYTES", "2048")
    http = OutboundHttp.from_settings(make_settings(tmp_path))
    assert http.max_response_bytes == 2048
    assert http.policy.hosts == {"db.internal", "cache.internal"}
    ip = ipaddress.ip_address
    assert http.policy.refusal("x", ip("10.9.8.7")) is None
    assert http.policy.refusal("x", ip("fd00::5")) is None
    assert http.policy.refusal("x", ip("127.0.0.2")) is not None
    assert http.policy.refusal("db.internal", ip("192.168.0.9")) is None


def test_a_malformed_network_stops_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS", "10.0.0.0/8,10.0.0.5/8")
    with pytest.raises(SettingsError, match=r"AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS\.1: "):
        make_settings(tmp_path)

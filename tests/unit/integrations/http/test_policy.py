"""Which addresses the SSRF rules refuse, and how the allow-list relaxes them."""

from __future__ import annotations

import ipaddress

import pytest

from auterity.integrations.http import NetworkPolicy, blocked_reason

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "169.254.10.1": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",  # reserved, listed by Python among the private ranges
    "255.255.255.255": "private",
    "198.18.0.1": "private",  # benchmarking
    "169.254.169.254": "cloud metadata",
    "169.254.170.2": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "cloud metadata",
    "2002:7f00:1::1": "loopback",  # 6to4 tunnelling to 127.0.0.1
    "2002:a9fe:a9fe::1": "cloud metadata",  # 6to4 to 169.254.169.254
    "64:ff9b::a00:1": "private",  # NAT64 to 10.0.0.1
    "::7f00:1": "reserved",  # IPv4-compatible 127.0.0.1 (deprecated form)
    "2001:db8::1": "private",  # documentation
}


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED.items()))
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found, found


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_the_allow_list_opens_its_networks_and_hosts_only() -> None:
    policy = NetworkPolicy.build(["127.0.0.1", "10.0.0.0/8"], ["Internal.Example."])
    ip = ipaddress.ip_address
    assert policy.refusal("x", ip("127.0.0.1")) is None
    assert policy.refusal("x", ip("10.200.0.7")) is None
    assert policy.refusal("x", ip("::ffff:10.1.2.3")) is None  # the same address, mapped
    assert "loopback" in (policy.refusal("x", ip("127.0.0.2")) or "")
    assert "loopback" in (policy.refusal("x", ip("::1")) or "")
    assert "private" in (policy.refusal("x", ip("192.168.1.1")) or "")
    # A trusted host name may resolve to any non-public address...
    assert policy.refusal("internal.example", ip("192.168.1.1")) is None
    # ...except a cloud metadata endpoint.
    assert policy.refusal("internal.example", ip("169.254.169.254")) is not None


def test_metadata_addresses_must_be_named_exactly() -> None:
    metadata = ipaddress.ip_address("169.254.169.254")
    wide = NetworkPolicy.build(["169.254.0.0/16", "0.0.0.0/0"])
    assert "metadata" in (wide.refusal("x", metadata) or "")
    assert wide.refusal("x", ipaddress.ip_address("169.254.1.1")) is None
    exact = NetworkPolicy.build(["169.254.169.254/32"])
    assert exact.refusal("x", metadata) is None


def test_networks_of_one_ip_version_never_cover_the_other() -> None:
    policy = NetworkPolicy.build(["::/96"])
    assert policy.refusal("x", ipaddress.ip_address("0.0.0.1")) is not None


def test_a_network_with_host_bits_is_refused_rather_than_widened() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.5/8"):
        NetworkPolicy.build(["10.0.0.5/8"])


def test_union_widens_and_keeps_policies_hashable() -> None:
    base = NetworkPolicy.build(["10.0.0.0/8"])
    tenant = NetworkPolicy.build(["192.168.0.0/16"], ["db.internal"])
    merged = base.union(tenant)
    assert merged.refusal("x", ipaddress.ip_address("192.168.3.4")) is None
    assert merged.refusal("x", ipaddress.ip_address("10.3.4.5")) is None
    assert merged == tenant.union(base) and hash(merged) == hash(tenant.union(base))
    assert base.union(None) is base

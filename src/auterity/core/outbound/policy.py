"""Which addresses outbound HTTP may reach: the SSRF rules and the allow-list that relaxes them.

Public addresses are always reachable. Loopback, private, link-local, carrier-grade NAT,
multicast, reserved and unspecified addresses (IPv4 and IPv6, and IPv4 carried inside IPv6)
are reachable only when a `NetworkPolicy` allows them; cloud metadata endpoints only when the
policy names them exactly, so allowing a whole link-local range does not open them by accident.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where clouds serve instance credentials: AWS/GCP/Azure/Oracle/OpenStack, AWS ECS task
# metadata, AWS over IPv6, Alibaba Cloud.
CLOUD_METADATA: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
METADATA_REASON = "a cloud metadata address"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for or tunnels to (mapped, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = blocked_reason(inner)
            if reason is not None:
                return f"{reason} ({inner}, inside {address})"
            if address.ipv4_mapped is not None:
                return None  # ::ffff:a.b.c.d *is* a.b.c.d, which is public
    if address in CLOUD_METADATA:
        return METADATA_REASON
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True)
class NetworkPolicy:
    """Non-public addresses outbound HTTP may reach: networks, and hosts trusted whatever
    they resolve to. Frozen and hashable: one connection pool is kept per policy."""

    networks: frozenset[IPNetwork] = field(default_factory=frozenset)
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls, networks: Iterable[str | IPNetwork] = (), hosts: Iterable[str] = ()
    ) -> NetworkPolicy:
        """A policy from CIDRs (`10.0.0.0/8`, or one address) and host names.

        Raises ValueError naming the entry that is not a network; host bits must be zero,
        so `10.0.0.5/8` is refused rather than silently widened to all of 10.0.0.0/8.
        """
        parsed: set[IPNetwork] = set()
        for entry in networks:
            if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
                parsed.add(entry)
                continue
            try:
                parsed.add(ipaddress.ip_network(entry.strip()))
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not a network in CIDR notation: {exc}") from None
        return cls(frozenset(parsed), frozenset(normalise_host(h) for h in hosts if h.strip()))

    def union(self, other: NetworkPolicy | None) -> NetworkPolicy:
        if other is None or other == self:
            return self
        return NetworkPolicy(self.networks | other.networks, self.hosts | other.hosts)

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `host` may not be reached at `address` under this policy, or None when it may."""
        reason = blocked_reason(address)
        if reason is None:
            return None
        forms: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and (inner := embedded_ipv4(address)):
            forms.append(inner)
        if any(form in CLOUD_METADATA for form in forms):
            exact = any(
                network.num_addresses == 1 and self._covers(network, form)
                for network in self.networks
                for form in forms
            )
            return None if exact else METADATA_REASON
        if normalise_host(host) in self.hosts:
            return None
        if any(self._covers(network, form) for network in self.networks for form in forms):
            return None
        return reason

    @staticmethod
    def _covers(network: IPNetwork, address: IPAddress) -> bool:
        return network.version == address.version and address in network

"""The SSRF guard: resolve a host, keep the addresses the policy allows, connect only to those.

The guard sits where httpcore opens a TCP connection (its network backend), not in front of
the request: the name is resolved once, the addresses are checked, and the socket is opened
to a checked address itself. A DNS answer that changes between a check and a connect (DNS
rebinding) therefore cannot slip a private address through, every redirect hop is guarded
because every new connection is, and TLS still verifies the certificate against the host
name, because httpcore sends that name as SNI whatever address the socket went to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import httpcore
import httpx

from auterity.core.outbound.errors import (
    AddressBlocked,
    OutboundNetworkError,
    OutboundTimeout,
)
from auterity.core.outbound.policy import METADATA_REASON, IPAddress, NetworkPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
ALLOW_SETTING = "AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS"
ALLOW_HOSTS_SETTING = "AUTERITY_HTTP_ALLOWED_PRIVATE_HOSTS"


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order, each once.

    getaddrinfo also reads the numeric forms a URL parser may not (`2130706433`,
    `0177.0.0.1`, `127.1`), which is why the check is made on what it returns.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def ssrf_guard(
    host: str,
    port: int,
    policy: NetworkPolicy,
    *,
    timeout: float | None = None,
    resolve: Resolver = system_resolver,
) -> list[str]:
    """The addresses `host` may be reached at under `policy`, in resolver order.

    Raises AddressBlocked when it resolves to none that are allowed, OutboundNetworkError
    when it does not resolve, OutboundTimeout when resolving takes longer than `timeout`.
    """
    try:
        async with asyncio.timeout(timeout):
            answers = await resolve(host, port)
    except TimeoutError:
        raise OutboundTimeout(f"resolving {host!r} took longer than {timeout:g}s") from None
    except (OSError, UnicodeError) as exc:
        raise OutboundNetworkError(f"{host!r} does not resolve: {exc}") from None
    addresses = [_parse(answer) for answer in answers]
    if not addresses:
        raise OutboundNetworkError(f"{host!r} does not resolve to any address")
    allowed: list[str] = []
    refused: list[tuple[IPAddress, str]] = []
    for address in addresses:
        reason = policy.refusal(host, address)
        if reason is None:
            allowed.append(str(address))
        else:
            refused.append((address, reason))
    if not allowed:
        address, reason = refused[0]
        raise AddressBlocked(
            _refusal_message(host, address, reason),
            host=host,
            address=str(address),
            reason=reason,
        )
    return allowed


def _parse(answer: str) -> IPAddress:
    # An IPv6 link-local answer carries its zone (`fe80::1%eth0`); the zone does not change
    # what the address is.
    return ipaddress.ip_address(answer.split("%", 1)[0])


def _refusal_message(host: str, address: IPAddress, reason: str) -> str:
    network = f"{address}/{address.max_prefixlen}"
    target = str(address) if host == str(address) else f"{host!r} (which resolves to {address})"
    if reason == METADATA_REASON:
        how = f"only when {ALLOW_SETTING} names it exactly ({network})"
    else:
        how = (
            f"only when allowed: add {network} (or its network) to {ALLOW_SETTING}"
            f", or the host name to {ALLOW_HOSTS_SETTING} (for one tenant: its settings' "
            "http.allowed_private_networks or http.allowed_private_hosts)"
        )
    return f"outbound HTTP to {target} refused: {reason}, reachable {how}"


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses `ssrf_guard` allowed for the host."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolve: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Resolution failures become httpcore's own errors so the client built on this
        # backend fails like any httpx client (ConnectError, ConnectTimeout); AddressBlocked
        # passes through httpx untouched.
        try:
            addresses = await ssrf_guard(
                host, port, self.policy, timeout=timeout, resolve=self._resolve
            )
        except OutboundTimeout as exc:
            raise httpcore.ConnectTimeout(exc.detail) from exc
        except OutboundNetworkError as exc:
            raise httpcore.ConnectError(exc.detail) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound HTTP does not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a pool whose every connection goes through the guard.

    httpx offers no way to hand its pool a network backend, so the pool it builds is
    replaced with an identical one that has the guard as backend. Environment proxies are
    ignored (`trust_env=False`): a proxy would make the connection that the guard checks.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        limits: httpx.Limits,
        resolve: Resolver = system_resolver,
        http2: bool = False,
        ca_bundle: Path | None = None,
    ) -> None:
        super().__init__(trust_env=False, limits=limits, http2=http2)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(ca_bundle),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http2=http2,
            network_backend=GuardedNetworkBackend(policy, resolve=resolve),
        )


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """A new verifying TLS context (each pool its own: httpcore sets ALPN on it) trusting
    certifi's CAs, or only those of `ca_bundle` (an internal CA)."""
    if ca_bundle is None:
        return httpx.create_ssl_context(trust_env=False)
    return ssl.create_default_context(cafile=str(ca_bundle))

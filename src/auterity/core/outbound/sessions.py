"""Pooled aiohttp sessions whose every connection goes through the SSRF guard.

For hot paths that send many small requests to a few hosts (RelayCore's calls to model
providers): aiohttp's C parser on plain asyncio transports costs a fraction of httpx's CPU per
request (httpx over anyio was 40 % of RelayCore's own CPU in the relay benchmark's profile).
The guard is the same as `GuardedTransport`'s: a name is resolved once by `ssrf_guard` and
aiohttp connects only to the addresses it allowed; an IP-literal host, which aiohttp never
resolves, is checked against the policy before the request leaves.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import aiohttp
from aiohttp import ClientHandlerType, ClientMiddlewareType
from aiohttp.abc import AbstractResolver, ResolveResult

from auterity.core.outbound.errors import OutboundNetworkError, OutboundTimeout
from auterity.core.outbound.guard import Resolver, ssrf_guard, system_resolver, tls_context
from auterity.core.outbound.policy import NetworkPolicy


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: the addresses `ssrf_guard` allows for the host, nothing else."""

    def __init__(self, policy: NetworkPolicy, resolve: Resolver = system_resolver) -> None:
        self.policy = policy
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # AddressBlocked passes through aiohttp untouched; resolution failures become what
        # aiohttp expects of a resolver (OSError: a connector error; TimeoutError: a timeout).
        try:
            addresses = await ssrf_guard(host, port, self.policy, resolve=self._resolve)
        except OutboundTimeout as exc:
            raise TimeoutError(exc.detail) from exc
        except OutboundNetworkError as exc:
            raise OSError(exc.detail) from exc
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: resolution goes through `resolve`."""


async def _itself(host: str, port: int) -> list[str]:
    return [host]


def literal_guard(policy: NetworkPolicy) -> ClientMiddlewareType:
    """A session middleware checking IP-literal hosts, which skip the resolver."""

    async def check(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        host = request.url.host or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            pass  # a name: the resolver guards it
        else:
            await ssrf_guard(host, request.url.port or 0, policy, resolve=_itself)
        return await handler(request)

    return check


def guarded_session(
    policy: NetworkPolicy,
    *,
    max_connections: int,
    keepalive_expiry: float,
    user_agent: str,
    resolve: Resolver = system_resolver,
    ca_bundle: Path | None = None,
) -> aiohttp.ClientSession:
    """A keep-alive aiohttp session under `policy`; it keeps no cookies, ignores proxy
    variables, and sends only what its caller asks (no redirects are followed by callers
    that pass `allow_redirects=False`)."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,
        keepalive_timeout=keepalive_expiry,
        resolver=GuardedResolver(policy, resolve),
        # No ALPN is offered: aiohttp speaks HTTP/1.1 only.
        ssl=tls_context(ca_bundle) if ca_bundle is not None else True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": user_agent},
        trust_env=False,
        middlewares=(literal_guard(policy),),
    )

"""The platform's one factory of outbound HTTP clients, and a bounded request through them.

`guarded_client` builds every client that calls out on someone's behalf (workflow steps,
integrations, identity providers). `OutboundHttp` keeps one pooled, keep-alive client per
network policy: connections are reused only by requests under the policy that opened them,
so a connection one tenant may make is never handed to a request another tenant may not.
Clients keep no cookies, so nothing leaks from one caller's request into the next.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import httpx

from auterity import __version__
from auterity.core.outbound.errors import (
    InvalidOutboundRequest,
    OutboundNetworkError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from auterity.core.outbound.guard import GuardedTransport, Resolver, system_resolver
from auterity.core.outbound.policy import NetworkPolicy
from auterity.core.outbound.sessions import guarded_session

if TYPE_CHECKING:
    from auterity.core.settings import Settings

QueryValue = str | int | float | bool | None
QueryParams = Mapping[str, QueryValue | Sequence[QueryValue]]
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30.0)
# A tenant's own exceptions to the guard (from its settings), added to the platform's.
TenantPolicies = Callable[[uuid.UUID], Awaitable[NetworkPolicy | None]]


def platform_policy(settings: Settings) -> NetworkPolicy:
    """The non-public addresses the platform's settings let every outbound call reach."""
    return NetworkPolicy.build(
        settings.http_allowed_private_networks, settings.http_allowed_private_hosts
    )


def guarded_client(
    policy: NetworkPolicy,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    limits: httpx.Limits = LIMITS,
    resolve: Resolver = system_resolver,
    http2: bool = False,
    ca_bundle: Path | None = None,
) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through the SSRF guard under `policy`;
    it follows no redirects by itself, keeps no cookies and ignores proxy variables.
    `http2` is offered through ALPN on TLS connections (needs `h2`); plain http stays 1.1.
    `ca_bundle`: the CA certificates trusted for TLS instead of certifi's (a PEM file)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            policy, limits=limits, resolve=resolve, http2=http2, ca_bundle=ca_bundle
        ),
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"User-Agent": f"Auterity/{__version__}", **(headers or {})},
        trust_env=False,
    )


@dataclass(frozen=True)
class FetchedResponse:
    """A complete answer: the status, headers and the whole (decoded) body."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str
    elapsed_ms: float
    charset: str | None
    redirects: int

    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")


def display_url(url: str | httpx.URL) -> str:
    """The URL without credentials, query or fragment: safe for logs and error messages."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class OutboundHttp:
    """Pooled, SSRF-guarded HTTP clients; `request` adds a total deadline, a size limit and
    redirects followed one guarded hop at a time."""

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        limits: httpx.Limits = LIMITS,
        resolve: Resolver = system_resolver,
        tenant_policies: TenantPolicies | None = None,
        http2: bool = False,
        ca_bundle: Path | None = None,
    ) -> None:
        # http2: offered through ALPN on TLS connections (needs `h2`); plain http stays 1.1.
        self.http2 = http2
        self.ca_bundle = ca_bundle
        self.policy = policy or NetworkPolicy()
        self.tenant_policies = tenant_policies
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self._limits = limits
        self._resolve = resolve
        self._clients: dict[NetworkPolicy, httpx.AsyncClient] = {}
        self._sessions: dict[NetworkPolicy, aiohttp.ClientSession] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, tenant_policies: TenantPolicies | None = None
    ) -> OutboundHttp:
        return cls(
            platform_policy(settings),
            timeout=settings.http_timeout_seconds,
            max_response_bytes=settings.http_max_response_bytes,
            max_redirects=settings.http_max_redirects,
            tenant_policies=tenant_policies,
            ca_bundle=settings.http_ca_bundle,
        )

    def client(self, policy: NetworkPolicy | None = None) -> httpx.AsyncClient:
        """The pooled client for this factory's policy widened by `policy` (a tenant's own)."""
        effective = self.policy.union(policy)
        client = self._clients.get(effective)
        if client is None or client.is_closed:
            client = guarded_client(
                effective,
                timeout=self.timeout,
                limits=self._limits,
                resolve=self._resolve,
                http2=self.http2,
                ca_bundle=self.ca_bundle,
            )
            self._clients[effective] = client
        return client

    def session(self, policy: NetworkPolicy | None = None) -> aiohttp.ClientSession:
        """The pooled aiohttp session under the same policy as `client(policy)`, for hot
        paths of small requests (no redirects, no size limit: the caller reads the answer)."""
        effective = self.policy.union(policy)
        session = self._sessions.get(effective)
        if session is None or session.closed:
            session = guarded_session(
                effective,
                max_connections=self._limits.max_connections or 0,
                keepalive_expiry=self._limits.keepalive_expiry or 0.0,
                user_agent=f"Auterity/{__version__}",
                resolve=self._resolve,
                ca_bundle=self.ca_bundle,
            )
            self._sessions[effective] = session
        return session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_redirects: int | None = None,
        max_response_bytes: int | None = None,
        policy: NetworkPolicy | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> FetchedResponse:
        """Send one request and read its whole answer, within `timeout` seconds in all.

        On behalf of `tenant_id`, the tenant's own exceptions to the guard apply too."""
        total = timeout or self.timeout
        limit = max_response_bytes or self.max_response_bytes
        hops = self.max_redirects if max_redirects is None else max_redirects
        if tenant_id is not None and self.tenant_policies is not None:
            policy = (await self.tenant_policies(tenant_id) or NetworkPolicy()).union(policy)
        client = self.client(policy)
        shown = display_url(url)
        try:
            target = httpx.URL(_checked_url(url))
            if params:
                # Added to the URL's own query (httpx would replace it); `params` wins a key
                # both give.
                target = target.copy_merge_params(params)
            request = client.build_request(
                method,
                target,
                headers=headers,
                content=content,
                timeout=httpx.Timeout(total, connect=min(total, CONNECT_TIMEOUT)),
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise InvalidOutboundRequest(f"cannot send to {shown}: {exc}") from None
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            # httpx's timeouts bound each read; this bounds the whole exchange, so a server
            # that trickles a byte at a time cannot hold the caller for longer.
            async with asyncio.timeout(total):
                response, redirects = await self._send(client, request, follow_redirects, hops)
                try:
                    body = await _read_limited(response, limit)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise OutboundTimeout(f"{method} {shown} got no answer within {total:g}s") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise InvalidOutboundRequest(f"cannot send {method} {shown}: {exc}") from None
        except httpx.TransportError as exc:
            raise OutboundNetworkError(
                f"{method} {shown} failed: {exc or type(exc).__name__}"
            ) from None
        return FetchedResponse(
            status=response.status_code,
            headers=response.headers,
            content=body,
            url=str(response.url),
            elapsed_ms=round((loop.time() - started) * 1000, 1),
            charset=response.charset_encoding,
            redirects=redirects,
        )

    async def _send(
        self, client: httpx.AsyncClient, request: httpx.Request, follow: bool, max_hops: int
    ) -> tuple[httpx.Response, int]:
        # Redirects are followed here rather than by httpx, which reads each redirect's body
        # whole, with no limit. httpx still builds each next request (method change on 303,
        # credentials dropped when the origin changes); each hop opens its connections
        # through the guard like the first.
        hops = 0
        while True:
            response = await client.send(request, stream=True, follow_redirects=False)
            next_request = response.next_request
            if not follow or next_request is None:
                return response, hops
            await response.aclose()
            if hops >= max_hops:
                raise TooManyRedirects(
                    f"{display_url(request.url)} redirected more than {max_hops} times"
                )
            request, hops = next_request, hops + 1

    async def aclose(self) -> None:
        """Close every pool; the factory stays usable and opens new ones when asked."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs can be requested")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    return url


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    """The body, decoded, refused as soon as it is over `limit` bytes."""
    declared = response.headers.get("content-length", "")
    too_large = (
        f"the response from {display_url(response.url)} is larger than the limit of "
        f"{limit} bytes (raise max_response_bytes, up to AUTERITY_HTTP_MAX_RESPONSE_BYTES)"
    )
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)

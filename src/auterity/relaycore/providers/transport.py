"""HTTP to providers: pooled guarded clients, errors mapped into the provider tree, SSE reading.

The providers' base URLs come from the operator (catalog file, settings), so their hosts are
trusted whatever they resolve to (an Ollama on localhost is normal); providers a tenant adds
go through the platform's default SSRF policy. Either way connections go through the one
outbound factory (core/outbound), under the same policy: complete answers (the hot path)
through its pooled aiohttp sessions (less CPU per request than httpx: see
benchmarks/relay_inprocess.py), except over TLS to a provider with `http2: true` (the
default), where httpx's HTTP/2 multiplexes them on one connection; streams always go through
httpx (HTTP/2 offered on TLS).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from auterity.core.clock import utcnow
from auterity.core.outbound import AddressBlocked, NetworkPolicy, OutboundHttp
from auterity.relaycore.catalog import Deployment
from auterity.relaycore.providers.base import (
    Call,
    ProviderError,
    ProviderNotConfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

CONNECT_TIMEOUT = 10.0


class ProviderHttp:
    """Sends provider requests; one pool for operator-defined hosts, one for tenants' own."""

    def __init__(self, outbound: OutboundHttp, trusted_base_urls: list[str]) -> None:
        self.outbound = outbound
        hosts = [urlsplit(url).hostname or "" for url in trusted_base_urls]
        self.trusted_policy = NetworkPolicy.build(hosts=[h for h in hosts if h])

    def _policy(self, call: Call) -> NetworkPolicy | None:
        return self.trusted_policy if call.deployment.trusted else call.network

    def client(self, call: Call) -> httpx.AsyncClient:
        return self.outbound.client(self._policy(call))

    async def post_json(
        self, call: Call, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """The provider's complete JSON answer (2xx); other statuses raise mapped errors."""
        deployment, timeout = call.deployment, call.timeout
        if deployment.provider_spec.http2 and url.startswith("https://"):
            async with self.open(call, url, body, headers) as streamed:
                raw = await streamed.aread()
            return _json_answer(deployment, raw)
        session = self.outbound.session(self._policy(call))
        with mapped_errors(deployment):
            async with session.post(
                url,
                data=json.dumps(body, separators=(",", ":")).encode(),
                headers={"content-type": "application/json", **headers},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout,
                    sock_connect=min(timeout, CONNECT_TIMEOUT),
                    sock_read=timeout,
                ),
            ) as response:
                raw = await response.read()
                if response.status >= 300:
                    raise status_error(
                        deployment, response.status, response.headers, response.reason, raw
                    )
        return _json_answer(deployment, raw)

    @asynccontextmanager
    async def open(
        self, call: Call, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """A streamed response with a 2xx status; other statuses raise mapped errors."""
        deployment, timeout = call.deployment, call.timeout
        client = self.client(call)
        request = client.build_request(
            "POST",
            url,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"content-type": "application/json", **headers},
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        )
        with mapped_errors(deployment):
            response = await client.send(request, stream=True)
            try:
                if response.status_code >= 300:
                    raw = await response.aread()
                    raise status_error(
                        deployment,
                        response.status_code,
                        response.headers,
                        response.reason_phrase,
                        raw,
                    )
                yield response
            finally:
                await response.aclose()


def _json_answer(deployment: Deployment, raw: bytes) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise UpstreamServerError(f"{deployment.provider} answered with invalid JSON") from None
    return answer


@contextmanager
def mapped_errors(deployment: Deployment) -> Iterator[None]:
    """Translates httpx and aiohttp failures into the provider error tree (the only place)."""
    where = f"{deployment.provider} ({deployment.upstream_model})"
    try:
        yield
    except ProviderError:
        raise
    except (httpx.TimeoutException, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        raise UpstreamTimeout(f"{where} did not answer in time") from None
    except AddressBlocked as exc:
        raise ProviderNotConfigured(f"{where}: {exc.detail}") from None
    except (httpx.TransportError, aiohttp.ClientError) as exc:
        raise UpstreamUnreachable(f"{where} is unreachable: {type(exc).__name__}") from None


def status_error(
    deployment: Deployment,
    status: int,
    headers: Mapping[str, str],
    reason: str | None,
    raw: bytes,
) -> ProviderError:
    """The error for a non-2xx answer, with the provider's own message when it gave one."""
    message, code, param = _upstream_message(raw)
    text = f"{deployment.provider} answered {status}: {message or reason or 'error'}"
    if status == 429:
        return UpstreamRateLimited(text, retry_after=retry_after(headers), code=code)
    if status >= 500:
        return UpstreamServerError(text, retry_after=retry_after(headers), code=code)
    if status in (401, 403):
        # Our credential for the provider is wrong: the client did nothing wrong, and
        # another provider may serve them.
        return ProviderNotConfigured(f"{deployment.provider} refused our credentials ({status})")
    if status == 408:
        return UpstreamTimeout(text)
    return UpstreamRejected(message or text, status=status, code=code, param=param)


def _upstream_message(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """The message, code and param of an OpenAI- or Anthropic-shaped error body."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    code = error.get("code")
    param = error.get("param")
    return (
        str(error.get("message") or "") or None,
        str(code) if code is not None else None,
        str(param) if param is not None else None,
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or a date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) for each server-sent event of a response."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield event, "\n".join(data)

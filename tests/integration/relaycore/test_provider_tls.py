"""Complete answers over TLS: HTTP/2 (httpx) to a provider with `http2: true`, HTTP/1.1
(aiohttp's pool) otherwise; both verify the server against `AUTERITY_HTTP_CA_BUNDLE`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from auterity.core.outbound import NetworkPolicy, OutboundHttp
from auterity.relaycore.catalog import Deployment, Price, ProviderSpec
from auterity.relaycore.providers.base import Call, UpstreamUnreachable
from auterity.relaycore.providers.transport import ProviderHttp
from tests.integration.relaycore.conftest import free_port

ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}


@dataclass
class TlsUpstream:
    url: str
    ca_file: Path
    versions: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[TlsUpstream]:
    """A TLS server offering h2 and http/1.1 (ALPN), certified by a CA of the test's own."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_file, ca_file = tmp_path / "server.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = str(cert_file)
    config.alpn_protocols = ["h2", "http/1.1"]
    versions: list[str] = []
    requests: list[tuple[str, str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        versions.append(scope["http_version"])
        body = b""
        while True:  # the whole request first (h2 sends it in DATA frames)
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        requests.append((scope["method"], scope["path"], json.loads(body)))
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(ANSWER).encode()})

    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(250):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        break
    try:
        yield TlsUpstream(f"https://localhost:{port}/v1", ca_file, versions, requests)
    finally:
        stop.set()
        await task


def call(url: str, *, http2: bool) -> Call:
    spec = ProviderSpec(kind="compatible", base_url=url, http2=http2)
    deployment = Deployment(
        id="tls:m",
        model="m",
        provider="tls",
        provider_spec=spec,
        upstream_model="m",
        price=Price(0, 0, 0),
        weight=1,
        trusted=True,
    )
    return Call(deployment=deployment, body={}, api_key=None, timeout=5.0)


def provider_http(upstream: TlsUpstream, ca_bundle: Path | None) -> ProviderHttp:
    outbound = OutboundHttp(NetworkPolicy(), http2=True, ca_bundle=ca_bundle)
    return ProviderHttp(outbound, [upstream.url])


@pytest.mark.parametrize(("http2", "version"), [(True, "2"), (False, "1.1")])
async def test_complete_answers_use_http2_where_the_provider_allows_it(
    upstream: TlsUpstream, http2: bool, version: str
) -> None:
    http = provider_http(upstream, upstream.ca_file)
    try:
        url = f"{upstream.url}/chat/completions"
        first = await http.post_json(call(upstream.url, http2=http2), url, {"n": 1}, {})
        second = await http.post_json(call(upstream.url, http2=http2), url, {"n": 2}, {})
    finally:
        await http.outbound.aclose()
    assert first == second == ANSWER
    assert upstream.versions == [version, version]
    assert upstream.requests == [
        ("POST", "/v1/chat/completions", {"n": 1}),
        ("POST", "/v1/chat/completions", {"n": 2}),
    ]


@pytest.mark.parametrize("http2", [True, False])
async def test_a_server_the_ca_bundle_does_not_vouch_for_is_refused(
    upstream: TlsUpstream, http2: bool
) -> None:
    http = provider_http(upstream, None)  # certifi's CAs: the test's own CA is unknown
    try:
        with pytest.raises(UpstreamUnreachable):
            await http.post_json(
                call(upstream.url, http2=http2), f"{upstream.url}/chat/completions", {}, {}
            )
    finally:
        await http.outbound.aclose()
    assert upstream.versions == []

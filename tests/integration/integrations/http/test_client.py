"""The outbound HTTP client against a real server on 127.0.0.1: guard, limits, redirects."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from auterity.integrations.http import (
    AddressBlocked,
    InvalidOutboundRequest,
    NetworkPolicy,
    OutboundHttp,
    OutboundNetworkError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    ssrf_guard,
)
from tests.integration.integrations.http.origin import Origin

LOOPBACK = NetworkPolicy.build(["127.0.0.1/32"])


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    client = OutboundHttp(LOOPBACK, timeout=5, max_response_bytes=64 * 1024)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def strict() -> AsyncIterator[OutboundHttp]:
    client = OutboundHttp(timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


def unique(prefix: str = "echo") -> str:
    return f"/{prefix}/{uuid.uuid4().hex[:8]}"


async def test_an_allowed_loopback_origin_is_reached(http: OutboundHttp, origin: Origin) -> None:
    path = unique()
    got = await http.request("GET", f"{origin.url}{path}", params={"q": "1"})
    assert got.status == 200 and got.redirects == 0
    assert origin.seen(path)[0].query == {"q": ["1"]}


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "::1"]
)
async def test_the_guard_checks_what_the_resolver_answers(host: str) -> None:
    with pytest.raises(AddressBlocked) as caught:
        await ssrf_guard(host, 80, NetworkPolicy())
    assert caught.value.reason == "a loopback address"
    assert "AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS" in caught.value.detail


async def test_loopback_is_refused_by_default_and_the_server_never_hears_of_it(
    strict: OutboundHttp, origin: Origin
) -> None:
    path = unique()
    for url in (
        f"{origin.url}{path}",
        f"http://localhost:{origin.port}{path}",
        f"http://2130706433:{origin.port}{path}",
        f"http://[::ffff:127.0.0.1]:{origin.port}{path}",
    ):
        with pytest.raises(AddressBlocked, match="loopback"):
            await strict.request("GET", url)
    with pytest.raises(InvalidOutboundRequest):  # httpx will not even parse this one
        await strict.request("GET", f"http://0177.0.0.1:{origin.port}{path}")
    assert origin.seen(path) == []


async def test_metadata_message_says_how_to_allow_it(strict: OutboundHttp) -> None:
    with pytest.raises(AddressBlocked) as caught:
        await strict.request("GET", "http://169.254.169.254/latest/meta-data/")
    assert "cloud metadata" in caught.value.detail
    assert "169.254.169.254/32" in caught.value.detail


@pytest.mark.parametrize(
    "target",
    [
        "http://10.1.2.3/",
        "http://192.168.1.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/echo",
        "http://0.0.0.0:{port}/echo",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(
    http: OutboundHttp, origin: Origin, target: str
) -> None:
    target = target.format(port=origin.port)
    with pytest.raises(AddressBlocked):
        await http.request("GET", f"{origin.url}/redirect", params={"to": target})


async def test_redirects_are_followed_hop_by_hop_and_bounded(
    http: OutboundHttp, origin: Origin
) -> None:
    path = unique()
    # localhost answers 127.0.0.1 and ::1: the guard connects to the allowed one only.
    hop = f"http://localhost:{origin.port}{path}"
    got = await http.request("GET", f"{origin.url}/redirect", params={"to": hop})
    assert got.status == 200 and got.redirects == 1 and got.url == hop
    not_followed = await http.request(
        "GET", f"{origin.url}/redirect", params={"to": hop}, follow_redirects=False
    )
    assert not_followed.status == 302
    loop = f"{origin.url}/redirect?to={origin.url}/redirect"
    with pytest.raises(TooManyRedirects):
        await http.request("GET", loop, max_redirects=3)


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    http: OutboundHttp, origin: Origin
) -> None:
    same, other = unique(), unique()
    headers = {"Authorization": "Bearer s3cret"}
    await http.request(
        "GET", f"{origin.url}/redirect", params={"to": f"{origin.url}{same}"}, headers=headers
    )
    await http.request(
        "GET",
        f"{origin.url}/redirect",
        params={"to": f"http://localhost:{origin.port}{other}"},
        headers=headers,
    )
    assert origin.seen(same)[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in origin.seen(other)[0].headers


async def test_the_address_checked_is_the_address_connected_to(origin: Origin) -> None:
    lookups: list[str] = []

    async def rebinding_resolver(host: str, port: int) -> list[str]:
        # A name only this resolver knows, answering a blocked and an allowed address;
        # any later lookup would answer the blocked one only.
        lookups.append(host)
        return ["10.9.9.9", "127.0.0.1"] if len(lookups) == 1 else ["10.9.9.9"]

    http = OutboundHttp(LOOPBACK, resolve=rebinding_resolver)
    try:
        path = unique()
        got = await http.request("GET", f"http://rebind.test:{origin.port}{path}")
    finally:
        await http.aclose()
    # The system resolver does not know rebind.test: reaching the server at all means the
    # socket went to the address the guard checked, and the name was resolved only once.
    assert got.status == 200 and lookups == ["rebind.test"]
    assert origin.seen(path)[0].headers["host"] == f"rebind.test:{origin.port}"


async def test_a_pool_is_never_shared_across_policies(strict: OutboundHttp, origin: Origin) -> None:
    path = unique()
    allowed = await strict.request("GET", f"{origin.url}{path}", policy=LOOPBACK)
    assert allowed.status == 200
    # A keep-alive connection to the origin now exists, in the wider policy's pool only.
    with pytest.raises(AddressBlocked):
        await strict.request("GET", f"{origin.url}{path}")
    assert len(origin.seen(path)) == 1


async def test_responses_over_the_limit_are_refused(http: OutboundHttp, origin: Origin) -> None:
    ok = await http.request("GET", f"{origin.url}/big", params={"bytes": 1000})
    assert len(ok.content) == 1000
    for declared in ("1", "0"):  # by Content-Length up front, or counted while streaming
        with pytest.raises(ResponseTooLarge, match="limit of 4096 bytes"):
            await http.request(
                "GET",
                f"{origin.url}/big",
                params={"bytes": 100_000, "declared": declared},
                max_response_bytes=4096,
            )


async def test_the_timeout_bounds_the_whole_exchange(http: OutboundHttp, origin: Origin) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundTimeout):
        await http.request("GET", f"{origin.url}/slow", params={"seconds": 3}, timeout=0.3)
    # Each byte arrives well within a read timeout; only the total deadline stops it.
    with pytest.raises(OutboundTimeout):
        await http.request("GET", f"{origin.url}/trickle", timeout=1)
    assert time.monotonic() - started < 2.5


async def test_connection_and_name_failures_are_network_errors(http: OutboundHttp) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(OutboundNetworkError):
        await http.request("GET", f"http://127.0.0.1:{closed_port}/")
    with pytest.raises(OutboundNetworkError, match="does not resolve"):
        await http.request("GET", "http://no-such-host.invalid/")


async def test_only_http_and_https_are_sent(http: OutboundHttp) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:70/"):
        with pytest.raises(InvalidOutboundRequest):
            await http.request("GET", url)


async def test_no_cookies_are_kept_between_requests(http: OutboundHttp, origin: Origin) -> None:
    path = unique()
    await http.request("GET", f"{origin.url}/cookie")
    await http.request("GET", f"{origin.url}{path}")
    assert "cookie" not in origin.seen(path)[0].headers


async def test_closing_drops_the_pools_and_the_factory_stays_usable(
    http: OutboundHttp, origin: Origin
) -> None:
    await http.request("GET", f"{origin.url}/echo")
    await http.aclose()
    again = await asyncio.wait_for(http.request("GET", f"{origin.url}/echo"), 5)
    assert again.status == 200


async def test_query_parameters_add_to_the_urls_own_query(
    http: OutboundHttp, origin: Origin
) -> None:
    path = unique()
    await http.request("GET", f"{origin.url}{path}?page=2&q=old", params={"q": "new", "t": [1, 2]})
    assert origin.seen(path)[0].query == {"page": ["2"], "q": ["new"], "t": ["1", "2"]}


async def test_pooled_sessions_are_guarded_like_the_clients(
    strict: OutboundHttp, http: OutboundHttp, origin: Origin
) -> None:
    """`OutboundHttp.session` (aiohttp, RelayCore's hot path) refuses what `request` refuses:
    names through its resolver, IP literals (which aiohttp never resolves) before sending."""
    path = unique()
    for url in (
        f"{origin.url}{path}",
        f"http://localhost:{origin.port}{path}",
        f"http://[::ffff:127.0.0.1]:{origin.port}{path}",
    ):
        with pytest.raises(AddressBlocked, match="loopback"):
            async with strict.session().get(url, allow_redirects=False):
                pass
    assert origin.seen(path) == []
    # The same session reaches loopback once the policy allows it, by address or by name.
    for url in (f"{origin.url}{path}", f"http://localhost:{origin.port}{path}"):
        async with http.session().get(url, allow_redirects=False) as answer:
            assert answer.status == 200
    assert len(origin.seen(path)) == 2
    assert strict.session() is strict.session()  # pooled: one session per policy

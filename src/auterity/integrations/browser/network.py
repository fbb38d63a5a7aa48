"""Every request a page makes, sent by the platform's SSRF-guarded client, not by Chromium.

The browser context routes each request here; it is fetched through `OutboundHttp` (the
guard checks the resolved address and connects to it itself, the tenant's allow-list
applies, the size of everything a job downloads is capped) and handed back to Chromium with
`route.fulfill`. Chromium itself is launched with a proxy that does not exist, so anything
that escapes routing (a WebSocket, a prefetch) fails instead of reaching the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Route

from auterity.core.outbound import (
    AddressBlocked,
    OutboundHttp,
    OutboundHttpError,
    ResponseTooLarge,
    display_url,
)

# Set by Chromium or by httpx for the body it decodes; never forwarded as they are.
_REQUEST_SKIP = frozenset(
    {"host", "connection", "content-length", "accept-encoding", "keep-alive", "upgrade"}
)
_RESPONSE_SKIP = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


@dataclass(frozen=True)
class BlockedRequest:
    url: str
    reason: str


@dataclass
class PageNetwork:
    """The route handler of one job's browser context, and what it saw."""

    http: OutboundHttp
    tenant_id: uuid.UUID | None
    max_bytes: int
    started: float  # the event loop's clock
    time_limit: float
    downloaded: int = 0
    requests: int = 0
    blocked: list[BlockedRequest] = field(default_factory=list)
    # Why the last top-level navigation got no page: re-raised instead of Chromium's
    # `net::ERR_FAILED`, so the caller learns the real reason.
    navigation_error: OutboundHttpError | None = None
    # Where a page's redirects ended: Chromium only knows the URL it asked for.
    redirected: dict[str, str] = field(default_factory=dict)

    async def handle(self, route: Route) -> None:
        request = route.request
        url = request.url
        scheme = urlsplit(url).scheme.lower()
        is_document = request.is_navigation_request() and request.frame.parent_frame is None
        if scheme not in ("http", "https"):
            self.blocked.append(BlockedRequest(display_url(url), f"{scheme}: URLs are not loaded"))
            await _abort(route, "blockedbyclient")
            return
        remaining = self.max_bytes - self.downloaded
        left = self.started + self.time_limit - asyncio.get_running_loop().time()
        self.requests += 1
        try:
            if remaining <= 0:
                raise ResponseTooLarge(
                    f"the job downloaded its limit of {self.max_bytes} bytes before "
                    f"{display_url(url)} (AUTERITY_BROWSER_MAX_PAGE_BYTES)"
                )
            headers = {
                name: value
                for name, value in (await request.all_headers()).items()
                if not name.startswith(":") and name.lower() not in _REQUEST_SKIP
            }
            fetched = await self.http.request(
                request.method,
                url,
                headers=headers,
                content=request.post_data_buffer,
                timeout=max(left, 0.1),
                # Followed here, each hop guarded: Chromium does not route the request that
                # follows a redirect it was handed, so it would go past the guard.
                follow_redirects=True,
                max_response_bytes=min(remaining, self.http.max_response_bytes),
                tenant_id=self.tenant_id,
            )
        except OutboundHttpError as exc:
            if isinstance(exc, AddressBlocked):
                self.blocked.append(BlockedRequest(display_url(url), exc.reason))
            if is_document:
                self.navigation_error = exc
            await _abort(route, "blockedbyclient" if isinstance(exc, AddressBlocked) else "failed")
            return
        self.downloaded += len(fetched.content)
        if is_document and fetched.redirects:
            self.redirected[url] = fetched.url
        response_headers: dict[str, str] = {}
        for name, value in fetched.headers.multi_items():
            if name.lower() in _RESPONSE_SKIP:
                continue
            # Playwright takes repeated Set-Cookie headers joined by new lines.
            joiner = "\n" if name.lower() == "set-cookie" else ", "
            previous = response_headers.get(name)
            response_headers[name] = value if previous is None else previous + joiner + value
        # The page may have gone away (closed, navigated) while this was in flight.
        with contextlib.suppress(PlaywrightError):
            await route.fulfill(
                status=fetched.status, headers=response_headers, body=fetched.content
            )


async def _abort(route: Route, code: str) -> None:
    with contextlib.suppress(PlaywrightError):
        await route.abort(code)

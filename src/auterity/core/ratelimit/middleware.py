"""Rate limiting at the edge (plain ASGI): per credential, per client address, with headers.

A request carrying a credential (`Authorization` or `X-API-Key`) is counted against that
credential, keyed by its HMAC digest so no credential is stored and none is checked here:
authenticating stays the job of the principal dependency. A request without one is counted
against the client address. Because anyone can invent credentials, every 401 answer is also
charged to the client address; once that charge finds the address over its limit, this
process refuses every credential from it until the window frees up (remembered locally, so
a valid credential costs no extra round trip to Redis).

Responses carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
`RateLimit-Policy` (IETF httpapi rate-limit headers); a refusal is a 429 problem with
`Retry-After`. If the counter store fails the request goes through: an outage of Redis
must not become an outage of the API.
"""

from __future__ import annotations

import math
import time

from cachetools import LRUCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auterity.core.crypto import TokenHasher
from auterity.core.errors import RateLimited, ServiceUnavailable
from auterity.core.logging import get_logger
from auterity.core.metrics import counter
from auterity.core.problems import problem_response
from auterity.core.ratelimit.limiter import Quota, RateLimiter, Usage
from auterity.core.settings import Settings

log = get_logger(__name__)
REFUSED = counter("rate_limited_requests", "Requests refused by the rate limiter", ("quota",))
_CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, hasher: TokenHasher, settings: Settings
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.hasher = hasher
        window = settings.rate_limit_window_seconds
        self.per_ip = Quota("ip", settings.rate_limit_per_ip, window)
        self.per_key = Quota("key", settings.rate_limit_per_key, window)
        self.exempt = tuple(path.rstrip("/") for path in settings.rate_limit_exempt_paths)
        # Address -> monotonic time until which its credentials are refused.
        self._blocked: LRUCache[str, float] = LRUCache(maxsize=100_000)

    def _is_exempt(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = f"ip:{client[0] if client else 'unknown'}"
        credential = _credential(scope)
        try:
            usage = await self._count(address, credential)
        except ServiceUnavailable as exc:
            log.warning("rate_limit_store_unavailable", error=str(exc.__cause__ or exc))
            await self.app(scope, receive, send)
            return
        if usage is None:
            await self.app(scope, receive, send)
            return
        if not usage.allowed:
            REFUSED.labels(usage.quota.name).inc()
            await self._refuse(scope, send, usage)
            return
        headers = _headers(usage)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
                if message["status"] == 401 and credential is not None and self.per_ip.limit:
                    await self._charge_failure(address)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _count(self, address: str, credential: bytes | None) -> Usage | None:
        """Count the request against its quota; None when no quota applies."""
        if credential is not None and self.per_key.limit:
            blocked_for = self._blocked.get(address, 0.0) - time.monotonic()
            if blocked_for > 0:
                # The address spent its allowance on credentials that did not authenticate.
                wait = math.ceil(blocked_for)
                return Usage(
                    self.per_ip, allowed=False, remaining=0, reset_after=wait, retry_after=wait
                )
            # Domain-separated, so the counter key never equals a stored API-key digest.
            digest = self.hasher.digest("ratelimit:" + credential.decode("latin-1"))
            return await self.limiter.hit(self.per_key, f"key:{digest}")
        if self.per_ip.limit:
            return await self.limiter.hit(self.per_ip, address)
        return None

    async def _charge_failure(self, address: str) -> None:
        try:
            usage = await self.limiter.hit(self.per_ip, address)
        except ServiceUnavailable as exc:
            log.warning("rate_limit_store_unavailable", error=str(exc.__cause__ or exc))
            return
        if not usage.allowed or usage.remaining == 0:
            self._blocked[address] = time.monotonic() + max(1, usage.retry_after)

    async def _refuse(self, scope: Scope, send: Send, usage: Usage) -> None:
        retry = max(1, usage.retry_after)
        who = "credential" if usage.quota.name == "key" else "client address"
        error = RateLimited(
            f"Too many requests from this {who}: the limit is {usage.quota.limit} per "
            f"{usage.quota.window_seconds} seconds. Retry in {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )
        response = problem_response(error, scope.get("path"))
        response.raw_headers.extend(_headers(usage))
        await response(scope, _no_body, send)


def _credential(scope: Scope) -> bytes | None:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _CREDENTIAL_HEADERS and value:
            found.setdefault(name, value)
    # Same precedence as the principal dependency: the Authorization header wins.
    return found.get(b"authorization") or found.get(b"x-api-key")


def _headers(usage: Usage) -> list[tuple[bytes, bytes]]:
    quota = usage.quota
    policy = f'"{quota.name}";q={quota.limit};w={quota.window_seconds}'
    return [
        (b"ratelimit-limit", str(quota.limit).encode()),
        (b"ratelimit-remaining", str(usage.remaining).encode()),
        (b"ratelimit-reset", str(usage.reset_after).encode()),
        (b"ratelimit-policy", policy.encode()),
    ]


async def _no_body() -> Message:
    return {"type": "http.disconnect"}

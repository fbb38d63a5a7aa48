"""Security headers on every response (plain ASGI), with a content policy per kind of page.

API responses get the strictest Content-Security-Policy (they load nothing). The interactive
docs load Swagger UI / ReDoc from their CDN and run one inline bootstrap script; their policy
allows exactly those origins and the SHA-256 of each inline script found in the page, so no
other inline script can run there. A header the route set itself is left alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    "default-src 'none'; "
    "script-src " + DOCS_CDN + " {script_hashes}; "
    # Swagger UI and ReDoc style elements from script; inline CSS cannot run code.
    "style-src " + DOCS_CDN + " https://fonts.googleapis.com 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src https://fonts.gstatic.com; "
    "connect-src 'self'; "
    "worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL | re.IGNORECASE)


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        docs_paths: Iterable[str | None] = (),
        hsts_always: bool = False,
        hsts_max_age_seconds: int = 31_536_000,
    ) -> None:
        self.app = app
        self.docs_paths = frozenset(path for path in docs_paths if path)
        self.hsts_always = hsts_always
        self.hsts = f"max-age={hsts_max_age_seconds}; includeSubDomains".encode()
        self.hsts_enabled = hsts_max_age_seconds > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        common = self._common_headers(scope)
        if scope["path"] in self.docs_paths:
            await self._docs_page(scope, receive, send, common)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merge(
                    message.get("headers", []),
                    [*common, (b"content-security-policy", API_POLICY.encode())],
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _common_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        ]
        if self.hsts_enabled and (self.hsts_always or scope.get("scheme") == "https"):
            headers.append((b"strict-transport-security", self.hsts))
        return headers

    async def _docs_page(
        self, scope: Scope, receive: Receive, send: Send, common: list[tuple[bytes, bytes]]
    ) -> None:
        """Hold the (small) docs page back until its inline scripts are hashed into the policy."""
        start: Message | None = None
        body = bytearray()

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            hashes = " ".join(_script_hash(script) for script in _INLINE_SCRIPT.findall(body))
            policy = DOCS_POLICY.format(script_hashes=hashes).replace("  ", " ")
            start["headers"] = _merge(
                start.get("headers", []), [*common, (b"content-security-policy", policy.encode())]
            )
            await send(start)
            await send({"type": "http.response.body", "body": bytes(body), "more_body": False})

        await self.app(scope, receive, buffer)


def _script_hash(script: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    return f"'sha256-{digest}'"


def _merge(
    headers: Iterable[tuple[bytes, bytes]], defaults: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    merged = list(headers)
    present = {name.lower() for name, _ in merged}
    merged.extend((name, value) for name, value in defaults if name not in present)
    return merged

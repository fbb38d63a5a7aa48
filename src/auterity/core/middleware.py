"""Request middleware (plain ASGI): request id, log context, metrics, access log, body limit."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auterity.core.errors import PayloadTooLarge
from auterity.core.logging import get_logger
from auterity.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from auterity.core.problems import problem_response
from auterity.core.request_context import ClientInfo, set_client, set_request_id

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = get_logger("auterity.access")


class RequestContextMiddleware:
    """Accepts or makes an `X-Request-ID`, binds it to logs, echoes it, and measures the request."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, user_agent = _read_headers(scope)
        request_id = request_id or uuid.uuid4().hex
        set_request_id(request_id)
        client = scope.get("client")
        set_client(ClientInfo(client[0] if client else None, user_agent))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name == b"x-request-id" for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # Unmatched paths share one label so scanners cannot blow up metric cardinality.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            if self.access_log_enabled:
                access_log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


def _read_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The caller's valid `X-Request-ID` (if any) and `User-Agent`, in one pass."""
    request_id = user_agent = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            request_id = candidate if _VALID_REQUEST_ID.match(candidate) else None
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")[:500]
    return request_id, user_agent


class BodySizeLimitMiddleware:
    """Refuses request bodies over `max_bytes` with a 413 problem, by header or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(scope, send)
                    return
                break
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    refused = True
                    await self._refuse(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(f"The request body is over the limit of {self.max_bytes} bytes.")
        response = problem_response(error, scope.get("path"))
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}

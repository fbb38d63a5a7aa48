"""Per-request context (request id, client address, user agent) for logs, problems and audit."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_client: ContextVar[ClientInfo | None] = ContextVar("client", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)


def current_client() -> ClientInfo:
    return _client.get() or ClientInfo()


def set_client(value: ClientInfo) -> None:
    _client.set(value)

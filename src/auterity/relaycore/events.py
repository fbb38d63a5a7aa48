"""`relay.request.completed`: an in-process hook for whoever wants every finished request.

NeuroWeaver (training data for the router) and triggers subscribe with `subscribe`; the
gateway publishes after the answer is sent. Handlers run in the publisher's event loop, each
isolated (one failing is logged, never raised) and never awaited by the request: `publish`
schedules them and returns. When the platform's event bus lands, it subscribes here too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from auterity.core.logging import get_logger

log = get_logger(__name__)
REQUEST_COMPLETED = "relay.request.completed"


@dataclass(frozen=True, slots=True)
class RequestCompleted:
    """A finished gateway request (no prompt or answer text: subscribers get figures only)."""

    request_id: str | None
    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None
    workflow: str | None
    run: str | None
    step: str | None
    requested_model: str
    routed_model: str | None
    provider: str | None
    status: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_micros: int
    latency_ms: int
    ttft_ms: int | None
    route_reason: str | None
    cache_hit: bool
    failover_count: int
    created_at: datetime
    name: str = REQUEST_COMPLETED


Handler = Callable[[RequestCompleted], Awaitable[None]]


class RequestEvents:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every completed request; returns a function that unsubscribes."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._handlers)

    def publish(self, event: RequestCompleted) -> None:
        for handler in self._handlers:
            task = asyncio.get_running_loop().create_task(self._deliver(handler, event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _deliver(self, handler: Handler, event: RequestCompleted) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("relay_event_handler_failed", event_name=event.name)

    async def drain(self) -> None:
        """Wait for deliveries in flight (on shutdown, and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

"""The dispatcher: delivers the outbox's pending deliveries to this process's subscribers.

It claims due deliveries in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
processes sharing a database never take the same one; SQLite has one writer), calls each
subscriber, and records the outcome: delivered, or failed and due again after a backoff,
or dead after the last attempt. A claim is a lease: it pushes the delivery's due time past
the longest a batch may take, so the deliveries of a process that died come due again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.logging import get_logger
from auterity.core.metrics import counter
from auterity.core.settings import Settings
from auterity.events import outbox
from auterity.events.event import PlatformEvent, Subscriber
from auterity.events.models import Event, EventDelivery
from auterity.events.retry import RetrySchedule

log = get_logger(__name__)
DELIVERIES = counter(
    "event_deliveries_total", "Event deliveries attempted, by outcome", ["subscriber", "outcome"]
)
CLAIM_BATCH = 16  # delivered concurrently, so a claim's lease is two delivery timeouts
PRUNE_EVERY = timedelta(hours=1)
STOP_GRACE = 5.0  # seconds `stop` lets subscriber calls in flight finish (a loaded machine)
ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Claim:
    id: uuid.UUID
    event_id: uuid.UUID
    subscriber: str
    attempt: int


class Dispatcher:
    def __init__(
        self,
        db: Database,
        subscribers: Mapping[str, Subscriber],
        *,
        owner: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or db.settings
        self.db = db
        self.subscribers = subscribers
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.retry = RetrySchedule.from_settings(settings)
        self.max_attempts = settings.events_max_attempts
        self.timeout = settings.events_delivery_timeout_seconds
        self.lease = timedelta(seconds=2 * self.timeout)
        self.poll_interval = settings.events_poll_seconds
        self.retention = timedelta(days=settings.events_retention_days)
        self.stop_grace = STOP_GRACE
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._calls: set[asyncio.Future[None]] = set()
        self._pruned_at: datetime | None = None
        self._registered = False

    def wake(self) -> None:
        """Look for deliveries now (an event was just committed in this process)."""
        self._wake.set()

    async def register(self) -> None:
        """Have every event recorded from now on, by any process, delivered to this
        process's subscribers."""
        async with self.db.session() as session:
            await outbox.register_subscribers(session, self.subscribers)

    async def start(self) -> None:
        if self._task is not None:
            return
        # A database without the events tables yet (migrations not run: /health/ready says
        # so) must not stop the app from starting; the loop registers once it can.
        try:
            await self.register()
            self._registered = True
        except Exception:
            log.warning("event_subscribers_not_registered", exc_info=True)
            self._registered = False
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="event-dispatcher")

    async def stop(self) -> None:
        """Stop delivering; what this process had claimed is due again at once, so the next
        dispatcher (here after a restart, or elsewhere) delivers it without waiting."""
        if self._task is None:
            return
        # The loop is let finish its batch rather than cancelled: cancelled mid-statement, a
        # SQLite connection can keep its write lock until it is garbage-collected. Only the
        # subscriber calls still running after the grace are cancelled; their deliveries
        # stay claimed, and are handed back below.
        self._stopping = True
        self._wake.set()
        _, running = await asyncio.wait({self._task}, timeout=self.stop_grace)
        if running:
            for call in list(self._calls):
                call.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None
        if not self._registered:
            return
        try:
            await self._hand_back()
        except Exception:  # stopping anyway: the claims' leases lapse and they come due
            log.warning("event_claims_not_handed_back", exc_info=True)

    async def _hand_back(self) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(EventDelivery)
                .where(EventDelivery.claimed_by == self.owner, EventDelivery.status == "pending")
                .values(
                    claimed_by=None,
                    next_attempt_at=utcnow(),
                    attempts=EventDelivery.attempts - 1,  # interrupted, not failed
                )
                .execution_options(synchronize_session=False)
            )

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            handled = 0
            try:
                if not self._registered:
                    await self.register()
                    self._registered = True
                handled = await self.deliver_due()
                now = utcnow()
                if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                    self._pruned_at = now
                    await self.prune()
            except Exception:  # keep delivering through a transient database error
                log.exception("event_dispatch_failed")
            if handled == CLAIM_BATCH or self._stopping:
                continue  # a full batch: more may be due
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def deliver_due(self) -> int:
        """Claim the deliveries due now for this process's subscribers and deliver them;
        answers how many were claimed."""
        claims = await self._claim()
        if not claims:
            return 0
        async with self.db.session(readonly=True) as session:
            rows = await session.execute(
                select(Event).where(Event.id.in_({claim.event_id for claim in claims}))
            )
            events = {
                row.id: PlatformEvent(row.tenant_id, row.type, row.data, row.id, row.occurred_at)
                for row in rows.scalars()
            }
        await asyncio.gather(*(self._deliver(claim, events[claim.event_id]) for claim in claims))
        return len(claims)

    async def _claim(self) -> list[Claim]:
        if not self.subscribers:
            return []
        now = utcnow()
        due = (
            select(EventDelivery.id)
            .where(
                EventDelivery.status == "pending",
                EventDelivery.subscriber.in_(list(self.subscribers)),
                EventDelivery.next_attempt_at <= now,
            )
            .order_by(EventDelivery.next_attempt_at)
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        )
        async with self.db.session() as session:
            # Two statements, not `UPDATE ... WHERE id IN (SELECT ... LIMIT)`: PostgreSQL may
            # run such a subquery more than once and so claim more than the limit. The rows
            # stay locked (or, on SQLite, the database) until this transaction commits.
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            claimed = await session.execute(
                update(EventDelivery)
                .where(EventDelivery.id.in_(ids))
                .values(
                    attempts=EventDelivery.attempts + 1,
                    next_attempt_at=now + self.lease,
                    claimed_by=self.owner,
                )
                .returning(
                    EventDelivery.id,
                    EventDelivery.event_id,
                    EventDelivery.subscriber,
                    EventDelivery.attempts,
                )
                .execution_options(synchronize_session=False)
            )
            return [Claim(*row) for row in claimed.tuples()]

    async def _deliver(self, claim: Claim, event: PlatformEvent) -> None:
        call: asyncio.Future[None] = asyncio.ensure_future(
            self.subscribers[claim.subscriber](event)
        )
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        try:
            async with asyncio.timeout(self.timeout):
                await call
        except asyncio.CancelledError:
            if self._stopping and call.cancelled():
                return  # interrupted by `stop`, which hands the claim back
            raise
        except TimeoutError:
            await self._failed(claim, f"timed out after {self.timeout:g} s")
        except Exception as exc:
            log.warning(
                "event_delivery_failed",
                subscriber=claim.subscriber,
                event_id=str(event.id),
                event_type=event.type,
                attempt=claim.attempt,
                error=repr(exc),
            )
            await self._failed(claim, f"{type(exc).__name__}: {exc}")
        else:
            await self._settle(
                claim, "delivered", status="delivered", delivered_at=utcnow(), last_error=None
            )

    async def _failed(self, claim: Claim, error: str) -> None:
        if claim.attempt >= self.max_attempts:
            log.error(
                "event_delivery_dead",
                subscriber=claim.subscriber,
                event_id=str(claim.event_id),
                attempts=claim.attempt,
            )
            await self._settle(claim, "dead", status="dead", last_error=error[:ERROR_CHARS])
            return
        await self._settle(
            claim,
            "retry",
            next_attempt_at=utcnow() + self.retry.after(claim.attempt),
            last_error=error[:ERROR_CHARS],
        )

    async def _settle(self, claim: Claim, outcome: str, **values: object) -> None:
        """Record an attempt's outcome, unless the claim lapsed and another process took the
        delivery since (its outcome is the one that counts)."""
        DELIVERIES.labels(claim.subscriber, outcome).inc()
        async with self.db.session() as session:
            await session.execute(
                update(EventDelivery)
                .where(
                    EventDelivery.id == claim.id,
                    EventDelivery.claimed_by == self.owner,
                    EventDelivery.attempts == claim.attempt,
                )
                .values(claimed_by=None, **values)
                .execution_options(synchronize_session=False)
            )

    async def prune(self) -> int:
        """Delete the delivered events older than the retention period."""
        async with self.db.session() as session:
            removed = await outbox.prune(session, self.retention)
        if removed:
            log.info("events_pruned", count=removed)
        return removed

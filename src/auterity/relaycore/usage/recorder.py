"""Usage rows written off the hot path: queued in memory, inserted in batches, flushed on stop.

`record` only appends to a list (no await, no I/O); a background task inserts the queue every
`flush_interval` seconds or as soon as `batch_size` rows wait. A failed insert keeps the rows
and retries; `stop` drains whatever is queued, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.ids import new_id
from auterity.core.logging import get_logger
from auterity.core.metrics import counter, gauge
from auterity.relaycore.usage.models import UsageRecord

log = get_logger(__name__)
WRITTEN = counter("relay_usage_rows_written_total", "Usage rows inserted")
QUEUED = gauge("relay_usage_rows_queued", "Usage rows waiting to be inserted")
DROPPED = counter("relay_usage_rows_dropped_total", "Usage rows dropped: queue over its cap")
REJECTED = counter("relay_usage_rows_rejected_total", "Usage rows the database refused")


@dataclass(slots=True)
class UsageEntry:
    """One gateway request, as the pipeline reports it (costs in integer micro-dollars)."""

    tenant_id: uuid.UUID
    requested_model: str
    status: str
    api_key_id: uuid.UUID | None = None
    workflow: str | None = None
    run: str | None = None
    step: str | None = None
    routed_model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0
    ttft_ms: int | None = None
    route_reason: str | None = None
    cache_hit: bool = False
    failover_count: int = 0
    created_at: datetime = field(default_factory=utcnow)


_COLUMNS = tuple(f.name for f in fields(UsageEntry))


def row(row_id: uuid.UUID, entry: UsageEntry) -> dict[str, Any]:
    # Shallow: `dataclasses.asdict` deep-copies every value, the recorder's largest cost.
    values = {name: getattr(entry, name) for name in _COLUMNS}
    values["id"] = row_id
    return values


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_queued: int = 1_000_000,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queued = max_queued
        self._queue: list[tuple[uuid.UUID, UsageEntry]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._stopping = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def record(self, entry: UsageEntry) -> None:
        """Queue one row; returns at once. Call from the event loop's thread."""
        if len(self._queue) >= self.max_queued:
            # Only reachable when the database has been down for a long time: bounded memory
            # beats an out-of-memory crash that would lose the whole queue.
            DROPPED.inc()
            return
        # The row id is minted here, so recording one entry object twice makes two rows.
        self._queue.append((new_id(), entry))
        QUEUED.set(len(self._queue))
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="relay-usage-recorder")

    async def _run(self) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as it times out, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("relay_usage_flush_failed", error=str(exc), queued=self.queued)

    async def flush(self) -> int:
        """Insert everything queued now, in batches; returns the rows written."""
        written = 0
        async with self._flush_lock:
            while self._queue:
                batch = [row(row_id, e) for row_id, e in self._queue[: self.batch_size]]
                try:
                    await self._insert(batch)
                    stored = len(batch)
                except IntegrityError:
                    # One bad row (say, its tenant was just deleted) must not hold back the rest.
                    stored = await self._insert_each(batch)
                # Removed only once committed: a failed insert leaves them for the next try.
                del self._queue[: len(batch)]
                written += stored
                WRITTEN.inc(stored)
                QUEUED.set(len(self._queue))
        return written

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.db.session() as session:
            await session.execute(insert(UsageRecord), rows)

    async def _insert_each(self, rows: list[dict[str, Any]]) -> int:
        stored = 0
        for row in rows:
            try:
                await self._insert([row])
                stored += 1
            except IntegrityError as exc:
                REJECTED.inc()
                log.error(
                    "relay_usage_row_rejected", error=str(exc.orig), tenant_id=str(row["tenant_id"])
                )
        return stored

    async def stop(self) -> None:
        """Stop the background task and write out everything still queued."""
        # Not cancelled: a cancel landing during a commit could write a batch twice.
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        await self.flush()

"""Platform events: a transactional outbox delivered at least once to named subscribers.

Publishers call `EventBus.publish(tenant_id, type, data)` (its own transaction) or
`EventBus.publish_in(session, ...)` / `outbox.record(session, ...)` (the caller's
transaction); subscribers register with `EventBus.subscribe(name, subscriber)`. Failed
deliveries are retried with backoff and end dead, to be replayed (`POST /api/events/{id}/replay`).
"""

from __future__ import annotations

from auterity.events.bus import EventBus
from auterity.events.event import PlatformEvent, Subscriber
from auterity.events.outbox import record, record_many

__all__ = ["EventBus", "PlatformEvent", "Subscriber", "record", "record_many"]

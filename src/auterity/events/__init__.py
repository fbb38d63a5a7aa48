"""Platform events, in process: `EventBus.publish(tenant_id, type, data)` and `subscribe`.

The outbox-backed bus of the design (at-least-once, Redis Streams, Kafka) is not built yet;
this is its publishing point, so publishers (the engine's `run.*` events, custom events from
`POST /api/events`, later RelayCore budget thresholds and NeuroWeaver promotions) do not change
when delivery becomes durable.
"""

from __future__ import annotations

from auterity.events.bus import EventBus, PlatformEvent, Subscriber

__all__ = ["EventBus", "PlatformEvent", "Subscriber"]

"""The in-process event bus: every subscriber gets each event; one failing stops nothing."""

from __future__ import annotations

import uuid

from auterity.events import EventBus, PlatformEvent


async def test_subscribers_get_events_in_order_and_a_failure_is_contained() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []

    async def first(event: PlatformEvent) -> None:
        seen.append(("first", event.type))

    async def broken(event: PlatformEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def last(event: PlatformEvent) -> None:
        seen.append(("last", event.type))

    for subscriber in (first, broken, last):
        bus.subscribe(subscriber)
    tenant = uuid.uuid4()
    event = await bus.publish(tenant, "lead.created", {"who": "Ada"})
    assert seen == [("first", "lead.created"), ("last", "lead.created")]
    assert event.tenant_id == tenant and event.as_dict()["data"] == {"who": "Ada"}
    bus.unsubscribe(first)
    await bus.publish(tenant, "lead.lost")
    assert seen[-1] == ("last", "lead.lost") and len(seen) == 3

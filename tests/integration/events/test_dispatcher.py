"""Delivery from the outbox: transactional, retried with backoff per subscriber, dead letters
and replay, crashes, and two dispatchers on one database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auterity.core.clock import FrozenClock
from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.core.tenancy import CrossTenantWrite, bind_tenant
from auterity.events import PlatformEvent, record
from auterity.events import service as events
from auterity.events.models import Event, EventDelivery
from tests.integration.events.conftest import Recorder, delivery, drain, make_bus


async def test_an_event_whose_transaction_rolls_back_is_never_delivered(
    db: Database, tenant: uuid.UUID
) -> None:
    seen = Recorder()
    bus = make_bus(db, triggers=seen)
    await bus.dispatcher.register()
    with pytest.raises(RuntimeError, match="the change failed"):
        async with db.session() as session:
            await bus.publish_in(session, tenant, "order.placed", {"n": 1})
            raise RuntimeError("the change failed")
    async with db.session() as session:
        kept = await bus.publish_in(session, tenant, "order.placed", {"n": 2})
    assert await drain(bus) == 1
    assert [(e.id, e.data) for e in seen.handled] == [(kept.id, {"n": 2})]
    async with db.session(readonly=True) as session:
        assert (await session.execute(select(func.count()).select_from(Event))).scalar() == 1


async def test_a_tenant_bound_session_cannot_record_another_tenants_event(
    db: Database, tenant: uuid.UUID
) -> None:
    with pytest.raises(CrossTenantWrite):
        async with db.session() as session:
            bind_tenant(session, uuid.uuid4())
            await record(session, tenant, "order.placed")


async def test_a_failing_subscriber_is_retried_with_backoff_and_the_others_get_it_once(
    db: Database, tenant: uuid.UUID, clock: FrozenClock
) -> None:
    flaky, steady = Recorder(failures=2), Recorder()
    bus = make_bus(db, flaky=flaky, steady=steady)
    await bus.dispatcher.register()
    event = await bus.publish(tenant, "invoice.paid", {"amount": 12})
    assert await drain(bus) == 2
    assert [e.id for e in steady.handled] == [event.id] and flaky.calls == 1
    waits = []
    for attempt in (1, 2):
        row = await delivery(db, event.id, "flaky")
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error == f"RuntimeError: subscriber down (call {attempt})"
        wait = row.next_attempt_at - clock.now()
        waits.append(wait)
        clock.advance(wait - timedelta(seconds=0.5))
        assert await drain(bus) == 0  # not due yet
        clock.advance(timedelta(seconds=0.5))
        assert await drain(bus) == 1
    # The default schedule: 2 s then 4 s, each plus up to 2 s of jitter.
    assert timedelta(seconds=2) <= waits[0] <= timedelta(seconds=4)
    assert timedelta(seconds=4) <= waits[1] <= timedelta(seconds=6)
    assert [e.id for e in flaky.handled] == [event.id] and flaky.calls == 3
    row = await delivery(db, event.id, "flaky")
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, clock.now())
    clock.advance(timedelta(hours=1))
    assert await drain(bus) == 0
    assert len(steady.handled) == 1 and len(flaky.handled) == 1


async def test_a_subscriber_that_always_fails_ends_dead_and_replay_delivers_it(
    db: Database, settings: Settings, tenant: uuid.UUID, clock: FrozenClock
) -> None:
    broken, steady = Recorder(broken=True), Recorder()
    three = settings.model_copy(update={"events_max_attempts": 3})
    bus = make_bus(db, settings=three, broken=broken, steady=steady)
    await bus.dispatcher.register()
    event = await bus.publish(tenant, "invoice.paid")
    for _ in range(3):
        await drain(bus)
        clock.advance(timedelta(minutes=10))
    assert await drain(bus) == 0
    row = await delivery(db, event.id, "broken")
    assert (row.status, row.attempts, broken.calls) == ("dead", 3, 3)
    async with db.session(readonly=True) as session:
        bind_tenant(session, tenant)
        dead, _ = await events.list_dead_letters(session, None, None, 50)
    assert [(d.event_id, d.subscriber, d.event_type) for d in dead] == [
        (event.id, "broken", "invoice.paid")
    ]
    broken.broken = False  # fixed
    async with db.session() as session:
        bind_tenant(session, tenant)
        assert await events.replay(session, event.id) == ["broken"]
    assert await drain(bus) == 1
    assert [e.id for e in broken.handled] == [event.id] and len(steady.handled) == 1
    assert (await delivery(db, event.id, "broken")).status == "delivered"


async def test_a_crashed_dispatcher_claim_lapses_and_another_process_delivers(
    db: Database, second_db: Database, tenant: uuid.UUID, clock: FrozenClock
) -> None:
    hung = Recorder(gate=asyncio.Event())
    first = make_bus(db, "first", triggers=hung)
    await first.dispatcher.register()
    event = await first.publish(tenant, "lead.created")
    crashed = asyncio.create_task(first.dispatcher.deliver_due())
    await hung.entered.wait()
    crashed.cancel()  # the process dies mid-delivery: no stop, its claim stays
    with pytest.raises(asyncio.CancelledError):
        await crashed
    survivor = Recorder()
    second = make_bus(second_db, "second", triggers=survivor)
    assert await drain(second) == 0  # the claim is still leased
    clock.advance(first.dispatcher.lease)
    assert await drain(second) == 1
    assert [e.id for e in survivor.handled] == [event.id]
    row = await delivery(db, event.id, "triggers")
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_events_left_undelivered_are_delivered_after_a_restart(
    db: Database, second_db: Database, tenant: uuid.UUID
) -> None:
    waiting = Recorder(gate=asyncio.Event())
    first = make_bus(db, "first", triggers=waiting)
    first.dispatcher.stop_grace = 0.05  # not waiting long for the hung subscriber
    await first.start()
    in_flight = await first.publish(tenant, "lead.created", {"n": 1})
    await waiting.entered.wait()
    await first.stop()  # shut down mid-delivery: its claim is handed back
    async with db.session() as session:  # committed while no dispatcher runs
        never_tried = await record(session, tenant, "lead.created", {"n": 2})
    restarted = Recorder()
    second = make_bus(second_db, "second", triggers=restarted)
    assert await drain(second) == 2  # at once: nothing waits for a lease to lapse
    assert {e.id for e in restarted.handled} == {in_flight.id, never_tried.id}
    row = await delivery(db, in_flight.id, "triggers")
    assert (row.status, row.attempts) == ("delivered", 1)  # the interrupted try did not count


async def test_stopping_lets_a_delivery_in_flight_finish(db: Database, tenant: uuid.UUID) -> None:
    gate = asyncio.Event()
    slow = Recorder(gate=gate)
    bus = make_bus(db, triggers=slow)
    await bus.start()
    event = await bus.publish(tenant, "lead.created")
    await slow.entered.wait()
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.05)
    gate.set()
    await stopping
    assert [e.id for e in slow.handled] == [event.id]
    row = await delivery(db, event.id, "triggers")
    assert (row.status, row.attempts, row.claimed_by) == ("delivered", 1, None)


async def test_two_dispatchers_on_one_database_never_deliver_the_same_event_twice(
    db: Database, second_db: Database, tenant: uuid.UUID
) -> None:
    got: list[tuple[str, uuid.UUID]] = []

    def subscriber(owner: str) -> Recorder:
        class Tracking(Recorder):
            async def __call__(self, event: PlatformEvent) -> None:
                got.append((owner, event.id))
                await asyncio.sleep(0.02)  # keep the two dispatchers' batches overlapping

        return Tracking()

    first = make_bus(db, "first", triggers=subscriber("first"))
    second = make_bus(second_db, "second", triggers=subscriber("second"))
    await first.dispatcher.register()
    async with db.session() as session:
        published = [await record(session, tenant, "tick", {"n": n}) for n in range(40)]
    await asyncio.gather(db.ping(), second_db.ping())  # both connected, so both race
    await asyncio.gather(drain(first), drain(second))
    delivered = [event_id for _, event_id in got]
    assert sorted(delivered) == sorted(e.id for e in published)  # each once, none lost
    assert {owner for owner, _ in got} == {"first", "second"}  # and both took a share
    async with db.session(readonly=True) as session:
        statuses = (await session.execute(select(EventDelivery.status))).scalars().all()
    assert statuses == ["delivered"] * 40


async def test_delivered_events_are_pruned_after_the_retention_period(
    db: Database, settings: Settings, tenant: uuid.UUID, clock: FrozenClock
) -> None:
    one_day = settings.model_copy(update={"events_retention_days": 1, "events_max_attempts": 1})
    good, bad = Recorder(), Recorder(broken=True)
    bus = make_bus(db, settings=one_day, good=good)
    await bus.dispatcher.register()
    delivered = await bus.publish(tenant, "kept.briefly")
    assert await drain(bus) == 1
    failing = make_bus(db, "other", settings=one_day, bad=bad)
    await failing.dispatcher.register()
    dead = await failing.publish(tenant, "kept.until.replayed")
    await drain(failing)
    await drain(bus)  # delivered to `good`, dead for `bad`: kept
    clock.advance(timedelta(hours=23))
    assert await bus.dispatcher.prune() == 0
    clock.advance(timedelta(hours=2))
    pending = await bus.publish(tenant, "fresh")
    assert await bus.dispatcher.prune() == 1
    async with db.session(readonly=True) as session:
        left = set((await session.execute(select(Event.id))).scalars())
        deliveries = set((await session.execute(select(EventDelivery.event_id))).scalars())
    assert left == {dead.id, pending.id} and delivered.id not in deliveries

"""The transactional outbox and the idempotent inbox on real PostgreSQL and
JetStream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import MetaData, select, update

from shared.bus import Bus
from shared.contracts import RequestCancelledV1
from shared.db import Database
from shared.outbox import (
    OutboxRelay,
    Retention,
    claim_event,
    outbox_table,
    processed_events_table,
    record_event,
)
from shared.settings import ServiceSettings
from tests.support.bus import TestBus
from tests.support.waiting import eventually

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = processed_events_table(metadata)


class _Settings(ServiceSettings):
    port: int = 0


@pytest.fixture
async def db(make_database):
    database = Database(await make_database("outbox"))
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def bus(bus_env):
    bus = Bus(_Settings(nats_url=bus_env["NATS_URL"], bus_prefix=bus_env["HEARTLINE_BUS_PREFIX"],
                        stream_name=bus_env["HEARTLINE_STREAM"]), "probe")
    bus.publisher(RequestCancelledV1)  # declares the stream
    await bus.start()
    yield bus
    await bus.broker.stop()


def _event() -> RequestCancelledV1:
    return RequestCancelledV1(
        source="heartline/test", correlationid="c",
        data={"request_id": str(uuid4()), "cancelled_by": "partner",
              "cancelled_at": datetime.now(UTC)},
    )


async def test_committed_events_are_published_in_order_with_their_id(db, bus, bus_env) -> None:
    events = [_event() for _ in range(5)]
    async with db.transaction() as session:
        for event in events:
            await record_event(session, outbox, event)
    relay = OutboxRelay(db, outbox, bus)
    assert await relay.publish_pending() == 5
    assert await relay.publish_pending() == 0, "published rows must not go out again"

    async with TestBus(bus_env) as test_bus:
        got = await test_bus.published("aid.request.cancelled.v1")
    assert [e["id"] for e in got] == [str(e.id) for e in events]
    async with db.connect() as session:
        assert all((await session.execute(select(outbox.c.published_at))).scalars())


async def test_a_rolled_back_change_publishes_nothing(db, bus, bus_env) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await record_event(session, outbox, _event())
            raise RuntimeError("the use case failed after recording its event")
    assert await OutboxRelay(db, outbox, bus).publish_pending() == 0


async def test_republishing_after_a_crash_is_dropped_by_jetstream(db, bus, bus_env) -> None:
    """A relay that dies after publishing but before marking the row will
    publish it again; the Nats-Msg-Id de-duplication drops the repeat."""
    async with db.transaction() as session:
        await record_event(session, outbox, _event())
    relay = OutboxRelay(db, outbox, bus)
    await relay.publish_pending()
    async with db.transaction() as session:
        await session.execute(update(outbox).values(published_at=None))  # the crash
    assert await relay.publish_pending() == 1
    async with TestBus(bus_env) as test_bus:
        assert len(await test_bus.published("aid.request.cancelled.v1")) == 1


async def test_a_publish_that_fails_mid_batch_stops_the_batch_there_and_goes_again_next_pass(
        db, bus, bus_env, caplog) -> None:
    """Publishing is pipelined, so the event after a failed one may already
    be stored: it is not marked, goes again with the failed one, and
    JetStream's de-duplication keeps one copy."""
    first, unroutable, third = _event(), _event(), _event()
    async with db.transaction() as session:
        for event in (first, unroutable, third):
            await record_event(session, outbox, event)
        # No stream takes this subject: JetStream has no responder for it.
        await session.execute(update(outbox).where(outbox.c.event_id == str(unroutable.id))
                              .values(type="nowhere.v1"))
    relay = OutboxRelay(db, outbox, bus)
    with caplog.at_level("WARNING", logger="heartline.outbox"):
        assert await relay.publish_pending() == 1
    assert "publishing nowhere.v1 failed: NoStreamResponseError" in caplog.text
    async with db.connect() as session:
        marked = dict((await session.execute(select(outbox.c.event_id, outbox.c.published_at))).all())
    assert marked[str(first.id)] is not None
    assert marked[str(unroutable.id)] is None and marked[str(third.id)] is None

    async with db.transaction() as session:  # an operator fixes the row
        await session.execute(update(outbox).where(outbox.c.event_id == str(unroutable.id))
                              .values(type=unroutable.type))
    assert await relay.publish_pending() == 2
    async with TestBus(bus_env) as test_bus:
        got = await test_bus.published("aid.request.cancelled.v1")
    assert sorted(e["id"] for e in got) == sorted(str(e.id) for e in (first, unroutable, third))


async def test_the_relay_loop_publishes_soon_after_commit(db, bus, bus_env) -> None:
    relay = OutboxRelay(db, outbox, bus, idle_seconds=30)  # only the commit hook can wake it
    passes: list[int] = []
    publish_pending = relay.publish_pending

    async def counted() -> int:
        passes.append(await publish_pending())
        return passes[-1]

    relay.publish_pending = counted
    task = asyncio.create_task(relay.run())
    try:
        # Commit once the relay made its first (empty) pass and idles: else
        # that pass would publish the event and the wake-up go untested.
        await eventually(lambda: passes, what="the relay's first pass")
        event = _event()
        async with db.transaction() as session:
            await record_event(session, outbox, event)
        async with TestBus(bus_env) as test_bus:
            # Well under the 30 s idle wait, so only the commit hook can have woken it.
            found = await test_bus.wait_for("aid.request.cancelled.v1", timeout=15)
        assert found["id"] == str(event.id)
        assert passes[0] == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_event_is_claimed_once_even_by_concurrent_consumers(db) -> None:
    event_id = uuid4()
    async with db.transaction() as session:
        assert await claim_event(session, inbox, "dispatch-requests", event_id)
    async with db.transaction() as session:
        assert not await claim_event(session, inbox, "dispatch-requests", event_id)
    async with db.transaction() as session:  # another consumer has its own claim
        assert await claim_event(session, inbox, "notify-requests", event_id)

    other = uuid4()

    async def claim() -> bool:
        async with db.transaction() as session:
            won = await claim_event(session, inbox, "dispatch-requests", other)
            await asyncio.sleep(0.05)  # hold the transaction open while the other waits
            return won

    results = await asyncio.gather(claim(), claim(), claim())
    assert sorted(results) == [False, False, True]


async def test_retention_deletes_only_what_is_old_and_done(db) -> None:
    now = datetime.now(UTC)
    long_ago, lately = now - timedelta(days=8), now - timedelta(days=6)
    async with db.transaction() as session:
        for name, published in (("old-published", long_ago), ("recent-published", lately), ("old-unpublished", None)):
            await session.execute(outbox.insert().values(event_id=name, type="t", payload="{}",
                                                         created_at=long_ago, published_at=published))
        for name, processed in (("old", long_ago), ("recent", lately)):
            await session.execute(inbox.insert().values(consumer="c", event_id=name, processed_at=processed))
    assert await Retention(db, outbox, inbox, days=7).prune(now) == (1, 1)
    async with db.transaction() as session:
        left = {r.event_id for r in await session.execute(select(outbox.c.event_id))}
        seen = {r.event_id for r in await session.execute(select(inbox.c.event_id))}
    # Never an event that has not gone out yet, however old.
    assert left == {"recent-published", "old-unpublished"}
    assert seen == {"recent"}


async def test_retention_on_sqlite_compares_its_own_timestamps_with_the_cutoff(tmp_path) -> None:
    """SQLite fills processed_at with CURRENT_TIMESTAMP text, not SQLAlchemy's
    format: both must compare rightly with the cutoff."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/retention.db")
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        now = datetime.now(UTC)
        async with database.transaction() as session:
            await session.execute(inbox.insert().values(consumer="c", event_id="just-now"))  # the server default
            await session.execute(inbox.insert().values(consumer="c", event_id="old",
                                                        processed_at=now - timedelta(days=8)))
        assert await Retention(database, outbox, inbox, days=7).prune(now) == (0, 1)
        assert await Retention(database, outbox, inbox, days=1).prune(now + timedelta(days=1, minutes=1)) == (0, 1)
    finally:
        await database.dispose()

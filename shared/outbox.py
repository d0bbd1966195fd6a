"""Transactional outbox and idempotent inbox, the two halves of "nothing lost,
nothing doubled".

A use case calls `record_event()` with the session of its own transaction, so
the change and the event commit together.  `OutboxRelay` publishes committed
events in order with `Nats-Msg-Id` = event id (JetStream drops a repeat inside
its de-duplication window) and marks them published.  On the consuming side,
`claim_event()` records an event id in the same transaction as its effect: a
redelivered event finds its id taken and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.bus import Bus
from shared.contracts import Event
from shared.db import Database
from shared.waiting import wake_or_timeout

log = logging.getLogger("heartline.outbox")

PUBLISHED = Counter("heartline_outbox_published_total", "Events published from the outbox")

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_Position = BigInteger().with_variant(Integer, "sqlite")


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("position", _Position, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(
            "ix_outbox_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


async def record_event(session: AsyncConnection, outbox: Table, event: Event) -> None:
    """Adds `event` to the outbox inside the caller's transaction."""
    await session.execute(
        outbox.insert().values(
            event_id=str(event.id), type=event.type, payload=event.model_dump_json()
        )
    )


async def claim_event(session: AsyncConnection, inbox: Table, consumer: str, event_id: object) -> bool:
    """True the first time `consumer` sees `event_id`; False for a repeat.
    Concurrent replicas block on the same key until the first one commits."""
    # Plain SQL that PostgreSQL and SQLite both speak: SQLAlchemy 2.0 does not
    # cache the dialect-specific ON CONFLICT constructs, and this runs per event.
    result = await session.execute(
        text(f"INSERT INTO {inbox.name} (consumer, event_id) VALUES (:consumer, :event_id) "
             "ON CONFLICT (consumer, event_id) DO NOTHING"),
        {"consumer": consumer, "event_id": str(event_id)},
    )
    return result.rowcount == 1


class OutboxRelay:
    """Publishes committed outbox rows; one loop per process, several processes
    may run side by side (rows are claimed with SKIP LOCKED)."""

    def __init__(
        self, db: Database, outbox: Table, bus: Bus, batch_size: int = 100, idle_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.bus = bus
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        db.after_commit(self._wake.set)
        # Built once: the relay runs a pass per commit under load.
        self._pending = (
            select(outbox.c.position, outbox.c.event_id, outbox.c.type, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.position)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        self._mark = (update(outbox).where(outbox.c.position.in_(bindparam("positions", expanding=True)))
                      .values(published_at=bindparam("at")))

    async def run(self) -> None:
        delay = 0.2
        while True:
            self._wake.clear()
            if not self.bus.is_connected():
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or the database hiccuped: try again later
                log.warning("outbox relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            if published < self.batch_size:
                await wake_or_timeout(self._wake, self.idle_seconds)

    async def publish_pending(self) -> int:
        """Publishes one batch in order; returns how many went out."""
        published = 0
        try:
            async with self.db.transaction_without_events() as session:
                rows = (await session.execute(self._pending)).all()
                if not rows:
                    return 0
                published, error = await self.bus.publish_many(
                    [(self.bus.subject(row.type), row.payload.encode(), row.event_id) for row in rows])
                if error is not None:  # the rest goes out, in order, on the next pass
                    log.warning("outbox relay: publishing %s failed: %s",
                                rows[published].type, type(error).__name__)
                # Mark what did go out even when a later publish failed.
                if published:
                    await session.execute(self._mark, {"positions": [row.position for row in rows[:published]],
                                                       "at": datetime.now(UTC)})
        finally:
            PUBLISHED.inc(published)
        return published


class Retention:
    """Deletes what the outbox and the inbox no longer need: outbox rows
    published, and processed-event records made, over `days` ago.  A
    duplicate can only come back within JetStream's redelivery (minutes) or
    its de-duplication window (2 h), so a week of inbox records is ample.
    Replicas may prune side by side: deletes by age are idempotent."""

    def __init__(self, db: Database, outbox: Table, inbox: Table, days: float, every_seconds: float = 3600) -> None:
        self.db = db
        self.outbox = outbox
        self.inbox = inbox
        self.days = days
        self.every_seconds = every_seconds

    async def prune(self, now: datetime | None = None) -> tuple[int, int]:
        """(outbox rows, inbox records) deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.days)
        async with self.db.transaction_without_events() as session:
            published = await session.execute(delete(self.outbox).where(self.outbox.c.published_at < cutoff))
            processed = await session.execute(delete(self.inbox).where(self.inbox.c.processed_at < cutoff))
        if published.rowcount or processed.rowcount:
            log.info("retention: %d published outbox rows and %d processed-event records older than %g days "
                     "deleted", published.rowcount, processed.rowcount, self.days)
        return published.rowcount, processed.rowcount

    async def run(self) -> None:
        while True:
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database hiccuped: the next round catches up
                log.warning("retention: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.every_seconds)

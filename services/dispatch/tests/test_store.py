"""Dispatch's queries where their order is the behaviour: the queue, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.dispatch import store
from services.dispatch.matching import URGENCY_RANK, vulnerability_score

from .conftest import HERE


async def _queue(session, label: str, urgency: str, vulnerabilities: tuple[str, ...], received_at: datetime) -> str:
    request_id = str(uuid4())
    await store.insert_request(session, dict(
        id=request_id, reference=label[:16], category="medicine", needs_volunteer=True, urgency=urgency,
        urgency_rank=URGENCY_RANK[urgency], vulnerabilities=list(vulnerabilities),
        vulnerability_score=vulnerability_score(vulnerabilities), summary=label, lat=HERE[0], lon=HERE[1],
        status="queued", sequence=1, received_at=received_at, updated_at=received_at))
    return request_id


async def test_the_queue_is_urgency_then_vulnerability_then_age(dispatch_db) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    # Inserted in the reverse of the expected order, so that neither insertion
    # order nor ids can pass for the queue's.
    wanted = [("critical-elderly-new", "critical", ("elderly_alone",), now),
              ("critical-smartphone-new", "critical", ("no_smartphone",), now),
              ("critical-old", "critical", (), old),
              ("critical-new", "critical", (), now),
              ("normal-elderly-old", "normal", ("elderly_alone",), old),
              ("normal-old", "normal", (), old)]
    async with dispatch_db.transaction() as session:
        ids = {label: await _queue(session, label, urgency, vulnerable, at)
               for label, urgency, vulnerable, at in reversed(wanted)}
    expected = [ids[label] for label, *_ in wanted]
    async with dispatch_db.transaction() as session:
        assert await store.queued_request_ids(session, 50) == expected
        assert [request_id for request_id, _ in await store.waiting_request_ids(session, 50, True)] == expected
        assert [row.id for row in await store.list_requests(session, {}, 50, 0)] == expected
        assert await store.queued_request_ids(session, 2) == expected[:2]

"""Stored deadlines, each claimed by one replica (SKIP LOCKED): offers that
expire, requests that waited too long for capacity, and SLA breaches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import RequestSlaBreachedV1
from shared.outbox import record_event

from . import store
from .assignments import end_offer
from .lifecycle import DISPATCH
from .matching import NO_CAPACITY_REASON
from .models import outbox
from .transitions import SOURCE, move_request


async def expire_offers(*, session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Offers past their deadline go back to the queue for the next team; how many."""
    ids = await store.expired_offer_ids(session, now, batch)
    for assignment_id in ids:
        await end_offer(session=session, assignment_id=assignment_id, outcome="expired", actor=DISPATCH,
                        reason="offer deadline passed")
    return len(ids)


async def escalate_overdue(*, session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Requests that waited too long for a team with free capacity go to coordinators; how many."""
    due = await store.due_escalations(session, now, batch)
    for request in due:
        await store.update_request(session, request.id, dict(escalate_at=None))
        await move_request(session, request=request, status="escalated", actor=DISPATCH, reason=NO_CAPACITY_REASON)
    return len(due)


async def report_sla_breaches(*, session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Marks (once) and announces requests no team accepted within their SLA; how many."""
    due = await store.due_sla_breaches(session, now, batch)
    for request in due:
        await store.update_request(session, request.id, dict(sla_breached_at=now))
        await store.add_audit(session, dict(
            request_id=request.id, from_status=request.status, to_status=request.status, actor=DISPATCH,
            reason=f"SLA breached: not accepted by {request.sla_due_at.isoformat()}", at=now))
        await record_event(session, outbox, RequestSlaBreachedV1(
            source=SOURCE, correlationid=request.id,
            data=dict(request_id=request.id, status=request.status, urgency=request.urgency,
                      community=request.community, due_at=request.sla_due_at, breached_at=now)))
    return len(due)

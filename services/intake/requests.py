"""Requests once stored: who sees which, their views and history, the status
changes applied from dispatch, cancellation and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.contracts import RequestCancelledV1, RequestFeedbackGivenV1, RequestStatusChangedV1
from shared.contracts.requests import RequestStatusChangedData
from shared.http import Principal, Problem, not_found
from shared.outbox import record_event
from shared.scope import CommunityTree, covers, visible_communities

from . import open311, store, webhook_deliveries
from .categories import CATALOGUE
from .models import outbox
from .schemas import FeedbackIn, FeedbackOut, HotlineOut, RequestOut, StatusChangeOut

SOURCE = "heartline/intake"

# Dispatch's lifecycle, as the requester sees it.
PUBLIC_STATUS = {
    "queued": "received",
    "offered": "received",
    "accepted": "assigned",
    "in_progress": "in_progress",
    "done": "done",
    "closed": "closed",
    "cancelled": "cancelled",
    "escalated": "escalated",
}
CANCELLABLE = frozenset({"received", "assigned", "in_progress", "escalated"})
# Once cancelled here, only dispatch's word that the work was finished anyway counts.
AFTER_CANCEL = frozenset({"cancelled", "done", "closed"})


def owner_of(principal: Principal) -> str:
    """Whose requests a caller files and sees: its partner, else itself."""
    return principal.partner_id or principal.subject


def _may_see(principal: Principal, row: Row[Any], tree: CommunityTree) -> bool:
    """Admins see every request; a coordinator those of the communities in its
    scope (a district or city covers those below it) and its own; a partner
    (or a resident's form) only its own."""
    if principal.is_admin:
        return True
    if principal.role == "coordinator" and covers(principal, row.community, tree):
        return True
    return row.submitted_by == owner_of(principal)


def _view(row: Row[Any], changes: list[Row[Any]]) -> RequestOut:
    """The request as its owner sees it.  Being received is the request's row
    itself (received_at), not a stored change, unless an earlier version stored it."""
    history = [StatusChangeOut(status=h.status, at=h.changed_at, reason=h.reason) for h in changes]
    if not history or history[0].status != "received":
        history.insert(0, StatusChangeOut(status="received", at=row.received_at))
    feedback = None
    if row.feedback_rating is not None:
        feedback = FeedbackOut(rating=row.feedback_rating, comment=row.feedback_comment,
                               channel=row.feedback_channel, at=row.feedback_at)
    return RequestOut(
        id=row.id,
        reference=row.reference,
        status=row.status,
        category=row.category,
        needs_volunteer=CATALOGUE[row.category].needs_volunteer,
        urgency=row.urgency,
        source=row.source,
        community=row.community,
        people=row.people,
        vulnerabilities=[v for v in row.vulnerabilities.split(",") if v],
        external_id=row.external_id,
        possible_duplicate_of=row.duplicate_of,
        received_at=row.received_at,
        updated_at=row.updated_at,
        expected_by=row.expected_by,
        history=history,
        feedback=feedback,
        hotline=HotlineOut(operator_id=row.operator_id, call_at=row.call_at, notes=row.operator_notes)
        if row.operator_id else None,
    )


async def view(*, session: AsyncConnection, request: Row[Any]) -> RequestOut:
    """A stored request's view, with its history."""
    return _view(request, await store.history(session, request.id))


async def _visible(session: AsyncConnection, principal: Principal, request_id: str, tree: CommunityTree, *,
                   for_update: bool = False) -> Row[Any]:
    row = await store.get_request(session, request_id, for_update=for_update)
    # Another partner's (or community's) request is indistinguishable from a missing one.
    if row is None or not _may_see(principal, row, tree):
        raise not_found(f"request {request_id}")
    return row


async def get_request(*, session: AsyncConnection, principal: Principal, request_id: str,
                      tree: CommunityTree) -> RequestOut:
    """A request the caller may see; 404 for a missing one and for another's."""
    return await view(session=session, request=await _visible(session, principal, request_id, tree))


async def list_requests(
    *, session: AsyncConnection, principal: Principal, status: str | None, external_id: str | None, limit: int,
    offset: int = 0, tree: CommunityTree,
) -> tuple[list[RequestOut], int]:
    """A page of the requests the caller may see, newest first, in two
    queries whatever the page size, and how many there are in all."""
    scope: dict[str, Any] = {}
    if principal.role == "coordinator":
        scope["communities_or_subject"] = (visible_communities(principal, tree) or (), principal.subject)
    elif not principal.is_admin:
        scope["submitted_by"] = owner_of(principal)
    filters: dict[str, Any] = dict(statuses=[status] if status else None, external_id=external_id, **scope)
    rows, total = await store.page_of_requests(session, limit=limit, offset=offset, **filters)
    changes = await store.histories(session, [r.id for r in rows])
    return [_view(r, changes[r.id]) for r in rows], total


async def open311_requests(
    *, session: AsyncConnection, principal: Principal | None, ids: list[str] | None,
    codes: list[str] | None, statuses: list[str] | None, start: datetime | None,
    end: datetime | None, limit: int = 1000,
) -> list[Row[Any]]:
    """Requests for GeoReport's GET: a partner's own with its api_key, else
    everyone's (shown without what identifies a requester)."""
    scope: dict[str, Any] = {}
    if principal is not None and not principal.is_admin:
        scope["submitted_by"] = owner_of(principal)
    if ids:
        return await store.list_requests(session, ids=ids, limit=limit, **scope)
    return await store.list_requests(session, categories=codes,
                                     statuses=open311.heartline_statuses(statuses) if statuses else None,
                                     start=start, end=end, limit=limit, **scope)


async def _status_changed(session: AsyncConnection, row: Row[Any], status: str, at: datetime,
                          reason: str | None, sequence: int | None = None) -> None:
    """Records a requester-facing change and queues it for the partner's webhook."""
    await store.add_status_change(session, row.id, status, at, reason, sequence)
    await webhook_deliveries.queue_status_change(session=session, request=row, status=status, at=at,
                                                 reason=reason)


async def apply_dispatch_status(*, session: AsyncConnection, event: RequestStatusChangedV1) -> None:
    """Follows dispatch's lifecycle, and keeps the time dispatch promised.  An
    older change arriving after a newer one (a consumer handles a fetched batch
    side by side) does not move the status back, but takes its place in the history."""
    change = event.data
    row = await store.get_request(session, str(change.request_id), for_update=True)
    if row is None:
        return
    public = PUBLIC_STATUS[change.status]
    if change.sequence <= row.dispatch_sequence:
        await _late_change(session, row, public, change)
        return
    if row.status == "cancelled" and public not in AFTER_CANCEL:
        # Dispatch had not yet heard of the cancellation when it said this.
        await store.set_status(session, row.id, row.status, change.sequence, row.updated_at, change.expected_by)
        return
    if public != row.status:
        await _status_changed(session, row, public, change.changed_at, change.reason, change.sequence)
    await store.set_status(session, row.id, public, change.sequence, change.changed_at, change.expected_by)


async def _late_change(session: AsyncConnection, row: Row[Any], public: str,
                       change: RequestStatusChangedData) -> None:
    """Into the history, by its sequence, unless it is there already or the
    changes either side of it show the same status.  No webhook: the partner
    was told the newer status, which stands."""
    if row.status == "cancelled" and public not in AFTER_CANCEL:
        return
    numbered = [h for h in await store.history(session, row.id) if h.sequence is not None]
    if any(h.sequence == change.sequence for h in numbered):
        return
    before = [h.status for h in numbered if h.sequence < change.sequence]
    after = [h.status for h in numbered if h.sequence > change.sequence]
    if public in ((before[-1] if before else "received"), (after[0] if after else None)):
        return
    await store.add_status_change(session, row.id, public, change.changed_at, change.reason, change.sequence)


async def cancel_request(
    *, session: AsyncConnection, principal: Principal, request_id: str, reason: str | None, tree: CommunityTree,
) -> RequestOut:
    """Withdraws a request that is not yet done.  Cancelling twice is harmless."""
    row = await _visible(session, principal, request_id, tree, for_update=True)
    if row.status == "cancelled":
        return await view(session=session, request=row)
    if row.status not in CANCELLABLE:
        raise Problem(409, "Conflict",
                      f"a request that is {row.status} can no longer be cancelled",
                      request_status=row.status)
    now = utcnow()
    await _status_changed(session, row, "cancelled", now, reason)
    await store.set_status(session, row.id, "cancelled", None, now)
    await record_event(session, outbox, RequestCancelledV1(
        source=SOURCE, correlationid=row.id,
        data=dict(request_id=row.id, reason=reason, cancelled_at=now,
                  cancelled_by="partner" if principal.role == "partner" else "coordinator"),
    ))
    return await view(session=session, request=await _visible(session, principal, request_id, tree))


async def give_feedback(
    *, session: AsyncConnection, principal: Principal, request_id: str, body: FeedbackIn, tree: CommunityTree,
) -> RequestOut:
    """The requester's confirmation and rating of a done request; dispatch closes it."""
    row = await _visible(session, principal, request_id, tree, for_update=True)
    if row.feedback_rating is not None:
        if (row.feedback_rating, row.feedback_comment) == (body.rating, body.comment):
            return await view(session=session, request=row)  # a retry of the same feedback
        raise Problem(409, "Conflict", "feedback was already given for this request")
    if row.status != "done":
        raise Problem(409, "Conflict",
                      f"feedback is taken once the request is done; it is {row.status}",
                      request_status=row.status)
    now = utcnow()
    await store.set_feedback(session, row.id, body.rating, body.comment, "api", now)
    await record_event(session, outbox, RequestFeedbackGivenV1(
        source=SOURCE, correlationid=row.id,
        data=dict(request_id=row.id, rating=body.rating, comment=body.comment, channel="api",
                  given_at=now),
    ))
    return await view(session=session, request=await _visible(session, principal, request_id, tree))


async def record_relayed_feedback(*, session: AsyncConnection, event: RequestFeedbackGivenV1) -> None:
    """Feedback the requester gave elsewhere (an SMS reply relayed by notify).
    The first feedback of a request stands; repeats, and intake's own event
    coming back (recorded when it was given), change nothing."""
    if event.source == SOURCE:
        return
    data = event.data
    row = await store.get_request(session, str(data.request_id), for_update=True)
    if row is None or row.feedback_rating is not None:
        return
    await store.set_feedback(session, row.id, data.rating, data.comment, data.channel, data.given_at)

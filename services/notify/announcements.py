"""Announcements: each event notify consumes turned into the messages it calls
for (a receipt, an offer, who comes and by when, a rating request, a
stand-down, the coordinators' alerts, a check-in reminder)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import (
    AssignmentOfferedV1,
    MemberCheckinMissingV1,
    RequestReceivedV1,
    RequestSlaBreachedV1,
    RequestStatusChangedV1,
)

from . import store
from .audiences import (
    URGENT,
    keep_offer,
    keep_requester,
    keep_status,
    known_requester,
    known_team,
    reference_of,
    to_coordinators,
    to_requester,
    to_team,
)
from .messages import Cause, Composer, Message, queue_message


async def announce_request_received(*, session: AsyncConnection, event: RequestReceivedV1, composer: Composer) -> None:
    """The requester gets a receipt with the reference to quote."""
    request = event.data
    requester = await keep_requester(session=session, event=event)
    await to_requester(
        session=session, cause=Cause.of(event, str(request.request_id)), requester=requester,
        message=Message("request_received", dict(category=request.category, reference=request.reference)),
        urgent=request.urgency in URGENT, composer=composer,
    )


async def announce_offer(*, session: AsyncConnection, event: AssignmentOfferedV1, composer: Composer) -> None:
    """Tells the team about the offer: what, where, how far, until when; the
    requester's phone is not in it (that comes once the team accepts)."""
    offer = event.data
    team = await known_team(session=session, team_id=offer.team_id)
    await keep_offer(session=session, event=event)
    message = Message(
        "team_offer",
        dict(category=offer.category, urgency=offer.urgency, summary=offer.summary,
             distance_km=f"{offer.distance_km:.1f}",
             deadline=composer.local_time(offer.offer_expires_at, composer.now()),
             assignment_ref=str(offer.assignment_id)[:8]),
        free="summary",
    )
    await to_team(session=session, cause=Cause.of(event, str(offer.request_id)), team=team, message=message,
                  composer=composer)


async def announce_status_change(*, session: AsyncConnection, event: RequestStatusChangedV1, composer: Composer) -> None:
    """accepted: the requester hears who comes and by when, the team gets the
    requester's contact; done: the requester is asked to confirm and rate;
    cancelled: the team that held it stands down; escalated: the community's
    coordinators are alerted."""
    await keep_status(session=session, event=event)
    announce = _BY_STATUS.get(event.data.status)
    if announce is not None:
        await announce(session, event, composer)


async def _accepted(session: AsyncConnection, event: RequestStatusChangedV1, composer: Composer) -> None:
    change = event.data
    requester = await known_requester(session=session, request_id=str(change.request_id))
    team = await known_team(session=session, team_id=change.team_id)
    offer = await store.get_offer(session, str(change.assignment_id)) if change.assignment_id else None
    # Dispatch's promise, carried on its events; an older producer's carry none, and no time is made up.
    expected_by = change.expected_by or requester.expected_by
    cause = Cause.of(event, str(change.request_id))
    await to_requester(
        session=session, cause=cause, requester=requester,
        message=Message("requester_assigned", dict(
            reference=requester.reference, team_name=team.name,
            expected_at=composer.local_time(expected_by, change.changed_at) if expected_by else "")),
        urgent=requester.urgency in URGENT, composer=composer,
    )
    await to_team(
        session=session, cause=cause, team=team,
        message=Message("team_contact",
                        dict(assignment_ref=str(change.assignment_id or "")[:8],
                             requester_name=requester.name or "", requester_phone=requester.phone,
                             reference=requester.reference, summary=(offer.summary if offer else "") or ""),
                        free="summary"),
        composer=composer,
    )


async def _done(session: AsyncConnection, event: RequestStatusChangedV1, composer: Composer) -> None:
    requester = await known_requester(session=session, request_id=str(event.data.request_id))
    await to_requester(session=session, cause=Cause.of(event, requester.request_id), requester=requester,
                       message=Message("requester_done", dict(reference=requester.reference)),
                       urgent=False, composer=composer)


async def _cancelled(session: AsyncConnection, event: RequestStatusChangedV1, composer: Composer) -> None:
    change = event.data
    if change.team_id is None:  # still queued: no team held it
        return
    # The team that held it (an offer or the task) stands down.
    team = await known_team(session=session, team_id=change.team_id)
    request_id = str(change.request_id)
    requester = await store.get_requester(session, request_id)
    await to_team(session=session, cause=Cause.of(event, request_id), team=team,
                  message=Message("team_cancelled",
                                  dict(assignment_ref=str(change.assignment_id or "")[:8],
                                       reference=reference_of(requester, request_id))),
                  composer=composer)


async def _escalated(session: AsyncConnection, event: RequestStatusChangedV1, composer: Composer) -> None:
    change = event.data
    request_id = str(change.request_id)
    # Sent even before notify knows the requester: an escalation must not wait.
    requester = await store.get_requester(session, request_id)
    community = change.community or (requester.community if requester else None)
    await to_coordinators(
        session=session, cause=Cause.of(event, request_id), community=community,
        message=Message("coordinator_escalation",
                        dict(reference=reference_of(requester, request_id),
                             category=requester.category if requester else None,
                             urgency=requester.urgency if requester else None,
                             community=community or "", reason=change.reason or ""),
                        free="reason"),
        composer=composer,
    )


_BY_STATUS: dict[str, Callable[[AsyncConnection, RequestStatusChangedV1, Composer], Awaitable[None]]] = {
    "accepted": _accepted, "done": _done, "cancelled": _cancelled, "escalated": _escalated,
}


async def alert_sla_breach(*, session: AsyncConnection, event: RequestSlaBreachedV1, composer: Composer) -> None:
    """No team accepted in time: the community's coordinators are alerted."""
    breach = event.data
    request_id = str(breach.request_id)
    requester = await store.get_requester(session, request_id)
    community = breach.community or (requester.community if requester else None)
    await to_coordinators(
        session=session, cause=Cause.of(event, request_id), community=community,
        message=Message("coordinator_sla_breached",
                        dict(reference=reference_of(requester, request_id),
                             urgency=breach.urgency, category=requester.category if requester else None,
                             community=community or "", status=breach.status,
                             due_at=composer.local_time(breach.due_at, breach.breached_at))),
        composer=composer,
    )


async def remind_missing_checkin(*, session: AsyncConnection, event: MemberCheckinMissingV1, composer: Composer) -> None:
    """The member is reminded by SMS to do today's health check-in."""
    member = event.data
    team = await store.get_team(session, str(member.team_id)) if member.team_id else None
    await queue_message(session=session, cause=Cause.of(event), recipient="member", channel="sms",
                        address=member.phone, locale=member.locale,
                        message=Message("member_checkin_reminder", dict(name=member.name, day=member.day.isoformat())),
                        urgent=False, community=team.community if team else None, composer=composer)

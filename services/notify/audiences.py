"""Audiences, who hears about what: the requester (by SMS, or a coordinator's
call), the team (its chat, or its leader's SMS), the community's coordinators;
and the contacts notify keeps from events to reach them (requesters, teams,
offers, each request's status)."""

from __future__ import annotations

import logging
from uuid import UUID

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import AssignmentOfferedV1, RequestReceivedV1, RequestStatusChangedV1, TeamChangedV1

from . import consent, store
from .messages import Cause, Composer, Message, queue_message

URGENT = frozenset({"critical", "high"})
ENDED = frozenset({"closed", "cancelled"})  # a request's statuses after which its personal data may go
log = logging.getLogger("heartline.notify")


class ContactUnknown(Exception):
    """The event names someone notify has not heard of yet (their event is
    still on its way); the bus retries the event later."""


# --- what notify keeps from events ----------------------------------------------------------


async def keep_requester(*, session: AsyncConnection, event: RequestReceivedV1) -> Row:
    """Keeps how to reach the requester (phone, language, preferred channel) and their request's
    reference, community, category and urgency; the first copy stays."""
    request = event.data
    request_id = str(request.request_id)
    await store.save_requester(
        session,
        dict(request_id=request_id, reference=request.reference, phone=request.requester.phone,
             locale=request.requester.locale, name=request.requester.name,
             preferred_channel=request.requester.preferred_channel, community=request.community,
             category=request.category, urgency=request.urgency),
    )
    return await known_requester(session=session, request_id=request_id)


async def keep_team(*, session: AsyncConnection, event: TeamChangedV1) -> None:
    """Keeps a team's name, chat and leader's phone, from its newest version."""
    team = event.data
    await store.upsert_team(
        session,
        dict(id=str(team.team_id), version=team.version, name=team.name, chat_url=team.chat_url,
             leader_phone=team.leader.phone, community=team.community),
    )


async def keep_offer(*, session: AsyncConnection, event: AssignmentOfferedV1) -> None:
    """Keeps an offer's details, so a leader's "1" can be matched to it."""
    offer = event.data
    await store.record_offer(
        session,
        dict(assignment_id=str(offer.assignment_id), request_id=str(offer.request_id), team_id=str(offer.team_id),
             state="offered", sequence=0, category=offer.category, urgency=offer.urgency, summary=offer.summary,
             offer_expires_at=offer.offer_expires_at, offered_at=event.time),
    )


def _offer_state(status: str) -> str:
    # After an offer, "queued" means declined or expired; cancelled/escalated end it too.
    return status if status in ("offered", "accepted", "in_progress", "done", "closed") else "ended"


async def keep_status(*, session: AsyncConnection, event: RequestStatusChangedV1) -> None:
    """Keeps the request's newest status (with the time promised to its requester)
    and the state of the offer it names."""
    change = event.data
    request_id = str(change.request_id)
    closed_at = change.changed_at if change.status in ENDED else None
    await store.track_request_status(session, request_id, change.status, change.sequence, change.expected_by,
                                     closed_at)
    if change.assignment_id and change.team_id:
        await store.track_offer_state(
            session, dict(assignment_id=str(change.assignment_id), request_id=request_id,
                          team_id=str(change.team_id), state=_offer_state(change.status), sequence=change.sequence))


async def known_requester(*, session: AsyncConnection, request_id: str) -> Row:
    """The requester of `request_id`, or ContactUnknown (their event is still on its way)."""
    requester = await store.get_requester(session, request_id)
    if requester is None:
        raise ContactUnknown(f"requester of {request_id}")
    return requester


async def known_team(*, session: AsyncConnection, team_id: UUID | None) -> Row:
    """The team, or ContactUnknown (its event is still on its way)."""
    team = await store.get_team(session, str(team_id)) if team_id is not None else None
    if team is None:
        raise ContactUnknown(f"team {team_id}")
    return team


def reference_of(requester: Row | None, request_id: str) -> str:
    """The number the requester quotes, or the request id's start when
    notify has not heard of the request yet (an alert must not wait)."""
    return requester.reference if requester else request_id[:8]


# --- reaching them --------------------------------------------------------------------------


async def to_requester(*, session: AsyncConnection, cause: Cause, requester: Row, message: Message, urgent: bool,
                       composer: Composer) -> None:
    """By SMS, or, for someone who asked to be called, through a coordinator."""
    channel = await consent.preferred_channel(session=session, phone=requester.phone,
                                              requested=requester.preferred_channel)
    if channel == "phone_call":
        said = composer.templates.render(message.template, requester.locale, **message.values)
        await to_coordinators(
            session=session, cause=cause, community=requester.community,
            message=Message("coordinator_call_requester",
                            dict(requester_name=requester.name or "", requester_phone=requester.phone,
                                 reference=requester.reference, message=said)),
            composer=composer,
        )
        return
    await queue_message(session=session, cause=cause, message=message, recipient="requester", channel="sms",
                        address=requester.phone, locale=requester.locale, community=requester.community,
                        urgent=urgent, composer=composer)


async def to_team(*, session: AsyncConnection, cause: Cause, team: Row, message: Message, composer: Composer) -> None:
    """In the team's chat, or by SMS to its leader when it has none.  Always
    urgent: a team works on what it is told now."""
    channel, address = ("chat", team.chat_url) if team.chat_url else ("sms", team.leader_phone)
    await queue_message(session=session, cause=cause, message=message, recipient="team", channel=channel,
                        address=address, locale=team.locale, community=team.community, urgent=True,
                        composer=composer)


async def to_coordinators(*, session: AsyncConnection, cause: Cause, community: str | None, message: Message,
                          composer: Composer) -> None:
    """To the community's coordinators (NOTIFY_COORDINATOR_URLS), urgent.  All
    of a community's URLs form one delivery: apprise sends to each."""
    urls = composer.coordinator_urls(community)
    if not urls:
        log.warning("no coordinator URL for community %s: a %s alert is only in the log",
                    community or "*", message.template)
    await queue_message(session=session, cause=cause, message=message, recipient="coordinator", channel="chat",
                        address=", ".join(urls), locale=composer.settings.coordinator_locale, community=community,
                        urgent=True, composer=composer)

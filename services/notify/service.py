"""Notify's use cases: decide who hears what about an event, in which
language and when; queue it once; send it within the providers' limits with
retries; understand replies.  They never commit: the caller's transaction does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import (
    AssignmentOfferedV1,
    AssignmentRepliedV1,
    MemberCheckinMissingV1,
    NotificationDeliveredV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.contracts.requests import RequestSlaBreachedV1
from shared.http import not_found
from shared.outbox import record_event

from . import store
from .channels import Channel, SendFailed, mask_phone
from .models import outbox
from .quiet import parse_hhmm, quiet_until
from .ratelimit import SlidingWindowLimiter
from .replies import Reply, parse_reply
from .schemas import ConsentIn, ConsentOut, DeliveryOut
from .settings import NotifySettings
from .templates import DEFAULT_LOCALE, MessageTemplates

SOURCE = "heartline/notify"
URGENT = frozenset({"critical", "high"})
log = logging.getLogger("heartline.notify")


class ContactUnknown(Exception):
    """The event names someone notify has not heard of yet (their event is
    still on its way); the bus retries the event later."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything notify stores is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass
class Notifier:
    """What the use cases need besides a session: settings, the templates and
    the clock (tests inject one to stand at 23:00)."""

    settings: NotifySettings
    templates: MessageTemplates
    clock: Callable[[], datetime] = _utcnow

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def quiet_until(self, moment: datetime) -> datetime | None:
        s = self.settings
        if not (s.quiet_start and s.quiet_end):
            return None
        return quiet_until(moment, parse_hhmm(s.quiet_start), parse_hhmm(s.quiet_end), self.zone)

    def coordinator_urls(self, community: str | None) -> list[str]:
        urls = self.settings.coordinator_urls
        return list(urls.get(community or "*") or urls.get("*") or [])

    def local_time(self, moment: datetime, since: datetime | None = None) -> str:
        local = moment.astimezone(self.zone)
        if since is not None and since.astimezone(self.zone).date() != local.date():
            return local.strftime("%m-%d %H:%M")
        return local.strftime("%H:%M")


@dataclass(frozen=True)
class Message:
    template: str
    values: dict[str, Any]
    free: str | None = None  # the value to shorten when an SMS is too long


# --- queueing -------------------------------------------------------------------------------


async def _queue(
    session: AsyncConnection, n: Notifier, *, cause_id: str, cause_type: str, request_id: str | None,
    recipient: str, channel: str, address: str, locale: str | None, message: Message,
    urgent: bool, community: str | None = None,
) -> None:
    now = n.now()
    locale = n.templates.locale_for(locale)
    if channel == "sms":
        body = n.templates.render_sms(message.template, locale, n.settings.sms_max_segments,
                                      free=message.free, **message.values)
    else:
        body = n.templates.render(message.template, locale, **message.values)
    status, error, due = "pending", None, now
    if not address:
        status, error = "suppressed", "no address configured for this recipient"
    elif channel == "sms" and await store.opted_out_among(session, [address]):
        status, error = "suppressed", "the recipient opted out"
    elif not urgent:
        due = n.quiet_until(now) or now
    await store.queue_delivery(
        session,
        dict(id=str(uuid4()), cause_event_id=cause_id, cause_type=cause_type,
             request_id=request_id, recipient=recipient, channel=channel, address=address,
             body=body, status=status, attempts=0, next_attempt_at=due, last_error=error,
             created_at=now, locale=locale, template=message.template, community=community,
             urgent=urgent),
    )


async def _to_requester(session: AsyncConnection, n: Notifier, cause_id: str, cause_type: str,
                        requester, message: Message, urgent: bool) -> None:
    """By SMS, or, for someone who asked to be called, through a coordinator."""
    consent = await store.get_consent(session, requester.phone)
    preferred = (consent.preferred_channel if consent and consent.preferred_channel
                 else requester.preferred_channel) or "sms"
    if preferred == "phone_call":
        said = n.templates.render(message.template, requester.locale, **message.values)
        await _to_coordinators(
            session, n, cause_id, cause_type, requester.request_id, requester.community,
            Message("coordinator_call_requester",
                    dict(requester_name=requester.name or "", requester_phone=requester.phone,
                         reference=requester.reference, message=said)),
        )
        return
    await _queue(session, n, cause_id=cause_id, cause_type=cause_type,
                 request_id=requester.request_id, recipient="requester", channel="sms",
                 address=requester.phone, locale=requester.locale, message=message,
                 urgent=urgent, community=requester.community)


async def _to_team(session: AsyncConnection, n: Notifier, cause_id: str, cause_type: str,
                   request_id: str | None, team, message: Message) -> None:
    """In the team's chat, or by SMS to its leader when it has none.  Always
    urgent: a team works on what it is told now."""
    channel, address = ("chat", team.chat_url) if team.chat_url else ("sms", team.leader_phone)
    await _queue(session, n, cause_id=cause_id, cause_type=cause_type, request_id=request_id,
                 recipient="team", channel=channel, address=address, locale=team.locale,
                 message=message, urgent=True, community=team.community)


async def _to_coordinators(session: AsyncConnection, n: Notifier, cause_id: str, cause_type: str,
                           request_id: str | None, community: str | None, message: Message) -> None:
    """To the community's coordinators (NOTIFY_COORDINATOR_URLS), urgent.  All
    of a community's URLs form one delivery: apprise sends to each."""
    urls = n.coordinator_urls(community)
    if not urls:
        log.warning("no coordinator URL for community %s: a %s alert is only in the log",
                    community or "*", message.template)
    await _queue(session, n, cause_id=cause_id, cause_type=cause_type, request_id=request_id,
                 recipient="coordinator", channel="chat", address=", ".join(urls),
                 locale=n.settings.coordinator_locale, message=message, urgent=True,
                 community=community)


# --- events in --------------------------------------------------------------------------------


async def on_request_received(session: AsyncConnection, n: Notifier, event: RequestReceivedV1) -> None:
    r = event.data
    await store.save_requester(
        session,
        dict(request_id=str(r.request_id), reference=r.reference, phone=r.requester.phone,
             locale=r.requester.locale, name=r.requester.name,
             preferred_channel=r.requester.preferred_channel, community=r.community,
             category=r.category, urgency=r.urgency),
    )
    requester = await store.get_requester(session, str(r.request_id))
    await _to_requester(
        session, n, str(event.id), event.type, requester,
        Message("request_received", dict(category=r.category, reference=r.reference)),
        urgent=r.urgency in URGENT,
    )


async def on_team_changed(session: AsyncConnection, n: Notifier, event: TeamChangedV1) -> None:
    t = event.data
    await store.upsert_team(
        session,
        dict(id=str(t.team_id), version=t.version, name=t.name, chat_url=t.chat_url,
             leader_phone=t.leader.phone, community=t.community),
    )


async def on_assignment_offered(session: AsyncConnection, n: Notifier, event: AssignmentOfferedV1) -> None:
    """Tells the team about the offer: what, where, how far, until when; the
    requester's phone is not in it (that comes once the team accepts)."""
    a = event.data
    team = await store.get_team(session, str(a.team_id))
    if team is None:
        raise ContactUnknown(f"team {a.team_id}")
    await store.record_offer(
        session,
        dict(assignment_id=str(a.assignment_id), request_id=str(a.request_id), team_id=str(a.team_id),
             state="offered", sequence=0, category=a.category, urgency=a.urgency, summary=a.summary,
             offer_expires_at=a.offer_expires_at, offered_at=event.time),
    )
    message = Message(
        "team_offer",
        dict(category=a.category, urgency=a.urgency, summary=a.summary,
             distance_km=f"{a.distance_km:.1f}", deadline=n.local_time(a.offer_expires_at, n.now()),
             assignment_ref=str(a.assignment_id)[:8]),
        free="summary",
    )
    await _to_team(session, n, str(event.id), event.type, str(a.request_id), team, message)


def _offer_state(status: str) -> str:
    # After an offer, "queued" means declined or expired; cancelled/escalated end it too.
    return status if status in ("offered", "accepted", "in_progress", "done", "closed") else "ended"


def _reference(requester, request_id: str) -> str:
    """The number the requester quotes, or the request id's start when
    notify has not heard of the request yet (an alert must not wait)."""
    return requester.reference if requester else request_id[:8]


async def on_status_changed(session: AsyncConnection, n: Notifier, event: RequestStatusChangedV1) -> None:
    """accepted: the requester hears who comes and when, the team gets the
    requester's contact; done: the requester is asked to confirm and rate;
    cancelled: the team that held it stands down; escalated: the community's
    coordinators are alerted."""
    d = event.data
    request_id = str(d.request_id)
    await store.track_request_status(session, request_id, d.status, d.sequence)
    if d.assignment_id and d.team_id:
        await store.track_offer_state(
            session, dict(assignment_id=str(d.assignment_id), request_id=request_id,
                          team_id=str(d.team_id), state=_offer_state(d.status), sequence=d.sequence))
    cause = (str(event.id), event.type)
    if d.status == "accepted":
        requester = await _known_requester(session, request_id)
        if d.team_id is None or (team := await store.get_team(session, str(d.team_id))) is None:
            raise ContactUnknown(f"team {d.team_id}")
        offer = await store.get_offer(session, str(d.assignment_id)) if d.assignment_id else None
        minutes = n.settings.expected_minutes.get(requester.urgency or "normal", 480)
        expected = d.changed_at + timedelta(minutes=minutes)
        await _to_requester(
            session, n, *cause, requester,
            Message("requester_assigned", dict(reference=requester.reference, team_name=team.name,
                                               expected_at=n.local_time(expected, d.changed_at))),
            urgent=requester.urgency in URGENT,
        )
        await _to_team(
            session, n, *cause, request_id, team,
            Message("team_contact",
                    dict(assignment_ref=str(d.assignment_id or "")[:8],
                         requester_name=requester.name or "", requester_phone=requester.phone,
                         reference=requester.reference, summary=(offer.summary if offer else "") or ""),
                    free="summary"),
        )
    elif d.status == "done":
        requester = await _known_requester(session, request_id)
        await _to_requester(session, n, *cause, requester,
                            Message("requester_done", dict(reference=requester.reference)), urgent=False)
    elif d.status == "cancelled" and d.team_id is not None:
        # The team that held it (an offer or the task) stands down.
        team = await store.get_team(session, str(d.team_id))
        if team is None:
            raise ContactUnknown(f"team {d.team_id}")
        requester = await store.get_requester(session, request_id)
        await _to_team(session, n, *cause, request_id, team,
                       Message("team_cancelled",
                               dict(assignment_ref=str(d.assignment_id or "")[:8],
                                    reference=_reference(requester, request_id))))
    elif d.status == "escalated":
        # Sent even before notify knows the requester: an escalation must not wait.
        requester = await store.get_requester(session, request_id)
        await _to_coordinators(
            session, n, *cause, request_id, d.community or (requester.community if requester else None),
            Message("coordinator_escalation",
                    dict(reference=_reference(requester, request_id),
                         category=requester.category if requester else None,
                         urgency=requester.urgency if requester else None,
                         community=d.community or (requester.community if requester else "") or "",
                         reason=d.reason or ""),
                    free="reason"),
        )


async def on_sla_breached(session: AsyncConnection, n: Notifier, event: RequestSlaBreachedV1) -> None:
    """No team accepted in time: the community's coordinators are alerted."""
    d = event.data
    request_id = str(d.request_id)
    requester = await store.get_requester(session, request_id)
    community = d.community or (requester.community if requester else None)
    await _to_coordinators(
        session, n, str(event.id), event.type, request_id, community,
        Message("coordinator_sla_breached",
                dict(reference=_reference(requester, request_id),
                     urgency=d.urgency, category=requester.category if requester else None,
                     community=community or "", status=d.status,
                     due_at=n.local_time(d.due_at, d.breached_at))),
    )


async def _known_requester(session: AsyncConnection, request_id: str):
    requester = await store.get_requester(session, request_id)
    if requester is None:
        raise ContactUnknown(f"requester of {request_id}")
    return requester


async def on_checkin_missing(session: AsyncConnection, n: Notifier, event: MemberCheckinMissingV1) -> None:
    m = event.data
    team = await store.get_team(session, str(m.team_id)) if m.team_id else None
    await _queue(session, n, cause_id=str(event.id), cause_type=event.type, request_id=None,
                 recipient="member", channel="sms", address=m.phone, locale=m.locale,
                 message=Message("member_checkin_reminder", dict(name=m.name, day=m.day.isoformat())),
                 urgent=False, community=team.community if team else None)


# --- replies in -------------------------------------------------------------------------------

LEADER_WORDS = {"accept": "accept", "decline": "decline", "complete": "complete"}
LEADER_DIGITS = {1: "accept", 2: "decline"}


@dataclass
class _Match:
    offer: Any = None
    problem: str | None = None  # no_task | ambiguous
    refs: list[str] = field(default_factory=list)


def _leader_action(reply: Reply) -> str | None:
    if reply.word in LEADER_WORDS:
        return LEADER_WORDS[reply.word]
    return LEADER_DIGITS.get(reply.digit) if reply.digit is not None else None


async def _match_offer(session: AsyncConnection, n: Notifier, team_ids: list[str], action: str,
                       ref: str | None) -> _Match:
    if action == "complete":
        candidates = await store.offers_of_teams(session, team_ids, ("accepted", "in_progress"))
    else:
        now = n.now()
        candidates = [o for o in await store.offers_of_teams(session, team_ids, ("offered",))
                      if o.offer_expires_at is None or _aware(o.offer_expires_at) > now]
    if ref:
        candidates = [o for o in candidates if o.assignment_id.startswith(ref)]
    if len(candidates) == 1:
        return _Match(offer=candidates[0])
    if not candidates:
        return _Match(problem="no_task")
    return _Match(problem="ambiguous", refs=[o.assignment_id[:8] for o in candidates])


async def _publish_reply(session: AsyncConnection, n: Notifier, offer, action: str, channel: str) -> None:
    await record_event(session, outbox, AssignmentRepliedV1(
        source=SOURCE, correlationid=offer.request_id,
        data=dict(assignment_id=offer.assignment_id, team_id=offer.team_id, action=action,
                  channel=channel, received_at=n.now()),
    ))


async def _begin_inbound(session: AsyncConnection, n: Notifier, channel: str, sender: str, text: str,
                         provider_id: str | None) -> str | None:
    """The inbound message's id, or None when the provider re-sent one already handled."""
    inbound_id = str(uuid4())
    fresh = await store.record_inbound(session, dict(
        id=inbound_id, channel=channel, sender=sender, provider_message_id=provider_id,
        text=text[:2000], outcome="received", received_at=n.now()))
    return inbound_id if fresh else None


async def receive_sms(session: AsyncConnection, n: Notifier, sender: str, text: str,
                      provider_id: str | None = None) -> str:
    """Acts on an SMS reply and says what it did: opted_out, opted_in,
    accept/decline/complete (a leader's answer, published for dispatch),
    rated (a requester's 1-5, published for intake and dispatch), help
    (not understood: a short help text goes back), or duplicate."""
    inbound_id = await _begin_inbound(session, n, "sms", sender, text, provider_id)
    if inbound_id is None:
        return "duplicate"
    outcome = await _act_on_sms(session, n, inbound_id, sender, parse_reply(text))
    await store.set_inbound_outcome(session, inbound_id, outcome)
    return outcome


async def _act_on_sms(session: AsyncConnection, n: Notifier, inbound_id: str, sender: str, reply: Reply) -> str:
    if reply.word in ("stop", "start"):
        await store.save_consent(session, dict(
            phone=sender, opted_out=reply.word == "stop", changed_via="sms", changed_at=n.now()))
        return "opted_out" if reply.word == "stop" else "opted_in"
    teams = await store.teams_led_by(session, sender)
    action = _leader_action(reply)
    match = _Match(problem=None)
    if teams and action:
        match = await _match_offer(session, n, [t.id for t in teams], action, reply.ref)
        if match.offer is not None:
            await _publish_reply(session, n, match.offer, action, "sms")
            return action
    if reply.digit is not None and reply.ref is None:
        requester = await store.awaiting_rating(session, sender)
        if requester is not None:
            now = n.now()
            await store.mark_rated(session, requester.request_id, now)
            await record_event(session, outbox, RequestFeedbackGivenV1(
                source=SOURCE, correlationid=requester.request_id,
                data=dict(request_id=requester.request_id, rating=reply.digit, channel="sms", given_at=now),
            ))
            return "rated"
    # Not understood, or nothing to act on: a short help text back.
    requester = None if teams else await store.requester_by_phone(session, sender)
    locale = teams[0].locale if teams else (requester.locale if requester else DEFAULT_LOCALE)
    await _queue(session, n, cause_id=inbound_id, cause_type="notify.inbound.sms", request_id=None,
                 recipient="team" if teams else "requester", channel="sms", address=sender,
                 locale=locale, urgent=True, community=teams[0].community if teams else None,
                 message=Message("reply_help", dict(problem=match.problem or "", refs=", ".join(match.refs))))
    return "help"


async def receive_chat(session: AsyncConnection, n: Notifier, team_id: str, text: str,
                       provider_id: str | None = None) -> str:
    """A reply in a team's chat (the webhook URL names the team): accept,
    decline or complete its task, or a help text back in the chat."""
    team = await store.get_team(session, team_id)
    if team is None:
        raise not_found(f"team {team_id}")
    inbound_id = await _begin_inbound(session, n, "chat", team_id, text, provider_id)
    if inbound_id is None:
        return "duplicate"
    reply = parse_reply(text)
    action = _leader_action(reply)
    match = _Match()
    outcome = "help"
    if action:
        match = await _match_offer(session, n, [team.id], action, reply.ref)
        if match.offer is not None:
            await _publish_reply(session, n, match.offer, action, "chat")
            outcome = action
    if outcome == "help":
        await _to_team(session, n, inbound_id, "notify.inbound.chat", None, team,
                       Message("reply_help", dict(problem=match.problem or "", refs=", ".join(match.refs))))
    await store.set_inbound_outcome(session, inbound_id, outcome)
    return outcome


# --- consent ----------------------------------------------------------------------------------


def _consent_view(phone: str, row) -> ConsentOut:
    if row is None:
        return ConsentOut(phone=phone, opted_out=False, preferred_channel=None, changed_via=None, changed_at=None)
    return ConsentOut(phone=row.phone, opted_out=row.opted_out, preferred_channel=row.preferred_channel,
                      changed_via=row.changed_via, changed_at=_aware(row.changed_at))


async def get_consent(session: AsyncConnection, phone: str) -> ConsentOut:
    return _consent_view(phone, await store.get_consent(session, phone))


async def set_consent(session: AsyncConnection, n: Notifier, phone: str, body: ConsentIn) -> ConsentOut:
    """Opt a number out (or back in) and set the channel it prefers, by API
    (a coordinator acting on a phone call)."""
    await store.save_consent(session, dict(phone=phone, opted_out=body.opted_out,
                                           preferred_channel=body.preferred_channel,
                                           changed_via="api", changed_at=n.now()))
    return await get_consent(session, phone)


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRound:
    handled: int  # deliveries sent, failed, retried later or suppressed in this round
    wait: float  # seconds until a rate limit lets the next one go (0: none is waiting)


async def _attempt(channel: Channel, row) -> str | None:
    """None when the provider took the message, else why not (never the address)."""
    try:
        await channel.send(row.address, "Heartline", row.body)
        return None
    except SendFailed as exc:
        return str(exc)
    except Exception as exc:  # a provider library's own failure: retried like any other
        return f"the provider call failed ({type(exc).__name__})"


async def send_due(
    session: AsyncConnection, n: Notifier, channels: dict[str, Channel],
    limiters: dict[str, SlidingWindowLimiter], limit: int = 50, concurrency: int = 16,
) -> SendRound:
    """Sends deliveries that are due, at most as fast as each channel's limit
    allows (the limit is taken right before each provider call, with at most
    `concurrency` calls in flight so none waits in a queue after it).  Rows are
    locked while they are sent, so two replicas never send the same one.  A
    failed send is retried with exponential backoff; after the last attempt it
    is failed (the dead-letter record) and the coordinators are alerted."""
    ready = [c for c in channels if c not in limiters or limiters[c].delay() == 0]
    if not ready:
        return SendRound(0, min(limiters[c].delay() for c in channels if c in limiters))
    rows = await store.due_deliveries(session, n.now(), limit, ready)
    opted_out = await store.opted_out_among(session, [r.address for r in rows if r.channel == "sms"])
    handled, going, per_channel = 0, [], dict.fromkeys(channels, 0)
    for row in rows:
        if row.channel == "sms" and row.address in opted_out:
            await store.update_delivery(session, row.id, dict(status="suppressed",
                                                              last_error="the recipient opted out"))
            handled += 1
            continue
        # A round takes no more than one window's worth per channel, so it stays short.
        if row.channel in limiters and per_channel[row.channel] >= limiters[row.channel].per_window:
            continue
        per_channel[row.channel] += 1
        going.append(row)
    in_flight = asyncio.Semaphore(concurrency)

    async def send(row) -> str | None:
        async with in_flight:
            limiter = limiters.get(row.channel)
            if limiter is None:
                return await _attempt(channels[row.channel], row)
            ticket = await limiter.acquire()
            try:
                return await _attempt(channels[row.channel], row)
            finally:
                limiter.finish(ticket)

    errors = await asyncio.gather(*(send(row) for row in going))
    s = n.settings
    for row, error in zip(going, errors, strict=True):
        attempts = row.attempts + 1
        if error is None:
            await store.update_delivery(session, row.id, dict(
                status="sent", attempts=attempts, sent_at=n.now(), last_error=None))
            await _delivered(session, n, row, "sent", attempts)
        elif attempts >= s.max_attempts:
            await store.update_delivery(session, row.id, dict(status="failed", attempts=attempts,
                                                              last_error=error))
            await _delivered(session, n, row, "failed", attempts)
            await _alert_failed(session, n, row, attempts, error)
        else:
            delay = s.send_retry_base_seconds * 2 ** (attempts - 1)
            await store.update_delivery(session, row.id, dict(
                attempts=attempts, last_error=error, next_attempt_at=n.now() + timedelta(seconds=delay)))
    handled += len(going)
    waits = [limiters[c].delay() for c in channels if c in limiters]
    return SendRound(handled, min([w for w in waits if w > 0], default=0.0))


async def _alert_failed(session: AsyncConnection, n: Notifier, row, attempts: int, error: str) -> None:
    if row.recipient == "coordinator":
        log.error("a coordinator alert (%s) could not be delivered: %s", row.template, error)
        return
    requester = await store.get_requester(session, row.request_id) if row.request_id else None
    await _to_coordinators(
        session, n, row.id, "notify.delivery_failed", row.request_id, row.community,
        Message("coordinator_delivery_failed",
                dict(recipient=row.recipient, channel=row.channel, attempts=attempts, error=error,
                     reference=requester.reference if requester else "")),
    )


async def _delivered(session: AsyncConnection, n: Notifier, row, status: str, attempts: int) -> None:
    await record_event(
        session, outbox,
        NotificationDeliveredV1(
            source=SOURCE, correlationid=row.request_id or row.cause_event_id,
            data=dict(delivery_id=row.id, cause_event_id=_cause_uuid(row.cause_event_id),
                      request_id=row.request_id, recipient=row.recipient, channel=row.channel,
                      status=status, attempts=attempts, delivered_at=n.now()),
        ),
    )


def _cause_uuid(cause_id: str) -> UUID:
    return UUID(cause_id)  # events, inbound messages and failed deliveries all have UUIDs


# --- reads ------------------------------------------------------------------------------------


def _masked(row) -> str:
    if row.channel == "sms":
        return mask_phone(row.address)
    return "(chat)" if row.address else "(none)"


async def list_deliveries(session: AsyncConnection, filters: dict[str, Any], limit: int, offset: int
                          ) -> tuple[list[DeliveryOut], int]:
    rows, total = await store.list_deliveries(session, filters, limit, offset)
    return [
        DeliveryOut(id=r.id, cause_type=r.cause_type, request_id=r.request_id,
                    recipient=r.recipient, channel=r.channel, to=_masked(r), status=r.status,
                    attempts=r.attempts, last_error=r.last_error, body=r.body, locale=r.locale,
                    template=r.template, created_at=_aware(r.created_at),
                    next_attempt_at=_aware(r.next_attempt_at), sent_at=_aware(r.sent_at))
        for r in rows
    ], total

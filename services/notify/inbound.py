"""Inbound replies: signed SMS and chat replies turned into events (a leader's
accept/decline/done, a requester's rating), opt-outs, or a help text back."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import AssignmentRepliedV1, RequestFeedbackGivenV1
from shared.http import not_found
from shared.outbox import record_event

from . import consent, store
from .audiences import to_team
from .messages import Cause, Composer, Message, queue_message
from .models import SOURCE, outbox
from .replies import Reply, parse_reply
from .templates import DEFAULT_LOCALE

# What a leader's reply asks for: the words, and the digits 1 and 2 of an offer's text.
LEADER_ACTIONS = frozenset({"accept", "decline", "complete"})
LEADER_DIGITS = {1: "accept", 2: "decline"}


@dataclass
class _Match:
    """The one offer a leader's reply answers, or why there is none (no_task | ambiguous)."""

    offer: Row | None = None
    problem: str | None = None
    refs: list[str] = field(default_factory=list)


def _leader_action(reply: Reply) -> str | None:
    if reply.word in LEADER_ACTIONS:
        return reply.word
    return LEADER_DIGITS.get(reply.digit) if reply.digit is not None else None


async def _match_offer(session: AsyncConnection, team_ids: list[str], action: str, ref: str | None,
                       composer: Composer) -> _Match:
    if action == "complete":
        candidates = await store.offers_of_teams(session, team_ids, ("accepted", "in_progress"))
    else:
        now = composer.now()
        candidates = [offer for offer in await store.offers_of_teams(session, team_ids, ("offered",))
                      if offer.offer_expires_at is None or offer.offer_expires_at > now]
    if ref:
        candidates = [offer for offer in candidates if offer.assignment_id.startswith(ref)]
    if len(candidates) == 1:
        return _Match(offer=candidates[0])
    if not candidates:
        return _Match(problem="no_task")
    return _Match(problem="ambiguous", refs=[offer.assignment_id[:8] for offer in candidates])


async def _publish_reply(session: AsyncConnection, offer: Row, action: str, channel: str, composer: Composer) -> None:
    await record_event(session, outbox, AssignmentRepliedV1(
        source=SOURCE, correlationid=offer.request_id,
        data=dict(assignment_id=offer.assignment_id, team_id=offer.team_id, action=action,
                  channel=channel, received_at=composer.now()),
    ))


async def _begin_inbound(session: AsyncConnection, channel: str, sender: str, text: str,
                         provider_message_id: str | None, composer: Composer) -> str | None:
    """The inbound message's id, or None when the provider re-sent one already handled."""
    inbound_id = str(uuid4())
    fresh = await store.record_inbound(session, dict(
        id=inbound_id, channel=channel, sender=sender, provider_message_id=provider_message_id,
        text=text[:2000], outcome="received", received_at=composer.now()))
    return inbound_id if fresh else None


def _help(match: _Match) -> Message:
    return Message("reply_help", dict(problem=match.problem or "", refs=", ".join(match.refs)))


async def receive_sms(*, session: AsyncConnection, sender: str, text: str, provider_message_id: str | None,
                      composer: Composer) -> str:
    """Acts on an SMS reply and says what it did: opted_out, opted_in,
    accept/decline/complete (a leader's answer, published for dispatch),
    rated (a requester's 1-5, published for intake and dispatch), help
    (not understood: a short help text goes back), or duplicate."""
    inbound_id = await _begin_inbound(session, "sms", sender, text, provider_message_id, composer)
    if inbound_id is None:
        return "duplicate"
    outcome = await _act_on_sms(session, inbound_id, sender, parse_reply(text), composer)
    await store.set_inbound_outcome(session, inbound_id, outcome)
    return outcome


async def _act_on_sms(session: AsyncConnection, inbound_id: str, sender: str, reply: Reply, composer: Composer) -> str:
    if reply.word in ("stop", "start"):
        await consent.opt_by_sms(session=session, phone=sender, opted_out=reply.word == "stop",
                                 changed_at=composer.now())
        return "opted_out" if reply.word == "stop" else "opted_in"
    teams = await store.teams_led_by(session, sender)
    action = _leader_action(reply)
    match = _Match()
    if teams and action:
        match = await _match_offer(session, [team.id for team in teams], action, reply.ref, composer)
        if match.offer is not None:
            await _publish_reply(session, match.offer, action, "sms", composer)
            return action
    if reply.digit is not None and reply.ref is None:
        requester = await store.awaiting_rating(session, sender)
        if requester is not None:
            now = composer.now()
            await store.mark_rated(session, requester.request_id, now)
            await record_event(session, outbox, RequestFeedbackGivenV1(
                source=SOURCE, correlationid=requester.request_id,
                data=dict(request_id=requester.request_id, rating=reply.digit, channel="sms", given_at=now),
            ))
            return "rated"
    # Not understood, or nothing to act on: a short help text back.
    requester = None if teams else await store.requester_by_phone(session, sender)
    locale = teams[0].locale if teams else (requester.locale if requester else DEFAULT_LOCALE)
    await queue_message(session=session, cause=Cause(inbound_id, "notify.inbound.sms"), message=_help(match),
                        recipient="team" if teams else "requester", channel="sms", address=sender, locale=locale,
                        community=teams[0].community if teams else None, urgent=True, composer=composer)
    return "help"


async def receive_chat(*, session: AsyncConnection, team_id: str, text: str, provider_message_id: str | None,
                       composer: Composer) -> str:
    """A reply in a team's chat (the webhook URL names the team): accept,
    decline or complete its task, or a help text back in the chat."""
    team = await store.get_team(session, team_id)
    if team is None:
        raise not_found(f"team {team_id}")
    inbound_id = await _begin_inbound(session, "chat", team_id, text, provider_message_id, composer)
    if inbound_id is None:
        return "duplicate"
    reply = parse_reply(text)
    action = _leader_action(reply)
    match = _Match()
    outcome = "help"
    if action:
        match = await _match_offer(session, [team.id], action, reply.ref, composer)
        if match.offer is not None:
            await _publish_reply(session, match.offer, action, "chat", composer)
            outcome = action
    if outcome == "help":
        await to_team(session=session, cause=Cause(inbound_id, "notify.inbound.chat"), team=team,
                      message=_help(match), composer=composer)
    await store.set_inbound_outcome(session, inbound_id, outcome)
    return outcome

"""Sending, the outbox of messages: what is due goes out within each channel's
rate limit, a failure is retried with backoff, the last one is recorded and
the coordinators alerted; and the delivery log, with addresses masked."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import backoff_seconds
from shared.contracts import NotificationDeliveredV1
from shared.http import Principal
from shared.outbound import UnsafeUrl, check_chat_url, check_destination
from shared.outbox import record_event
from shared.phones import mask_phone
from shared.scope import CommunityTree, visible_communities

from . import store
from .audiences import to_coordinators
from .channels import Channel, SendFailed
from .messages import Cause, Composer, Message
from .models import SOURCE, outbox
from .ratelimit import SlidingWindowLimiter
from .schemas import DeliveryOut

log = logging.getLogger("heartline.notify")


@dataclass(frozen=True)
class SendRound:
    handled: int  # deliveries sent, failed, retried later or suppressed in this round
    wait: float  # seconds until a rate limit lets the next one go (0: none is waiting)


REFUSED = "refused: "  # the start of a delivery's error when its address may not be used at all


async def _refusal(delivery: Row, allowed_hosts: list[str]) -> str | None:
    """Why a team's chat URL (typed by a user) may not be sent to, or None.
    Checked right before each send: a name may resolve elsewhere today."""
    if delivery.recipient != "team" or delivery.channel != "chat":
        return None  # phones go through the gateway; coordinators' URLs are the operator's own
    try:
        check_chat_url(delivery.address, allowed_hosts=allowed_hosts)
        await check_destination(delivery.address, allowed_hosts=allowed_hosts)
    except UnsafeUrl as exc:  # its text names the rule, never the URL
        return f"{REFUSED}the team's chat URL {exc}"
    return None


async def _attempt(channel: Channel, delivery: Row) -> str | None:
    """None when the provider took the message, else why not (never the address)."""
    try:
        await channel.send(delivery.address, "Heartline", delivery.body, template=delivery.template)
        return None
    except SendFailed as exc:
        return str(exc)
    except Exception as exc:  # a provider library's own failure: retried like any other
        return f"the provider call failed ({type(exc).__name__})"


async def send_due(
    *, session: AsyncConnection, channels: dict[str, Channel], limiters: dict[str, SlidingWindowLimiter],
    composer: Composer, batch: int = 50, concurrency: int = 16,
) -> SendRound:
    """Sends deliveries that are due, at most as fast as each channel's limit
    allows (the limit is taken right before each provider call, with at most
    `concurrency` calls in flight so none waits in a queue after it).  Rows are
    locked while they are sent, so two replicas never send the same one.  A
    failed send is retried with exponential backoff; after the last attempt it
    is failed (the dead-letter record) and the coordinators are alerted."""
    ready = [name for name in channels if name not in limiters or limiters[name].delay() == 0]
    if not ready:
        return SendRound(0, min(limiters[name].delay() for name in channels if name in limiters))
    due = await store.due_deliveries(session, composer.now(), batch, ready)
    opted_out = await store.opted_out_among(session, [row.address for row in due if row.channel == "sms"])
    handled, going, per_channel = 0, [], dict.fromkeys(channels, 0)
    for delivery in due:
        if delivery.channel == "sms" and delivery.address in opted_out:
            await store.update_delivery(session, delivery.id, dict(status="suppressed",
                                                                   last_error="the recipient opted out"))
            handled += 1
            continue
        # A round takes no more than one window's worth per channel, so it stays short.
        limiter = limiters.get(delivery.channel)
        if limiter is not None and per_channel[delivery.channel] >= limiter.per_window:
            continue
        per_channel[delivery.channel] += 1
        going.append(delivery)
    in_flight = asyncio.Semaphore(concurrency)

    allowed_hosts = composer.settings.outbound_allowed_hosts

    async def send(delivery: Row) -> str | None:
        if refused := await _refusal(delivery, allowed_hosts):
            return refused
        async with in_flight:
            limiter = limiters.get(delivery.channel)
            if limiter is None:
                return await _attempt(channels[delivery.channel], delivery)
            ticket = await limiter.acquire()
            try:
                return await _attempt(channels[delivery.channel], delivery)
            finally:
                limiter.finish(ticket)

    errors = await asyncio.gather(*(send(delivery) for delivery in going))
    settings = composer.settings
    for delivery, error in zip(going, errors, strict=True):
        attempts = delivery.attempts + 1
        if error is None:
            await store.update_delivery(session, delivery.id, dict(
                status="sent", attempts=attempts, sent_at=composer.now(), last_error=None))
            await _record_outcome(session, delivery, "sent", attempts, composer)
        elif attempts >= settings.max_attempts or error.startswith(REFUSED):  # a refusal is not retried
            await store.update_delivery(session, delivery.id, dict(status="failed", attempts=attempts,
                                                                   last_error=error))
            await _record_outcome(session, delivery, "failed", attempts, composer)
            await _alert_failed(session, delivery, attempts, error, composer)
        else:
            # No cap: max_attempts already bounds the longest wait.
            delay = backoff_seconds(attempts, base=settings.send_retry_base_seconds, cap=math.inf)
            await store.update_delivery(session, delivery.id, dict(
                attempts=attempts, last_error=error, next_attempt_at=composer.now() + timedelta(seconds=delay)))
    handled += len(going)
    waits = [limiters[name].delay() for name in channels if name in limiters]
    return SendRound(handled, min([wait for wait in waits if wait > 0], default=0.0))


async def _alert_failed(session: AsyncConnection, delivery: Row, attempts: int, error: str,
                        composer: Composer) -> None:
    if delivery.recipient == "coordinator":
        log.error("a coordinator alert (%s) could not be delivered: %s", delivery.template, error)
        return
    requester = await store.get_requester(session, delivery.request_id) if delivery.request_id else None
    await to_coordinators(
        session=session, cause=Cause(delivery.id, "notify.delivery_failed", delivery.request_id),
        community=delivery.community,
        message=Message("coordinator_delivery_failed",
                        dict(recipient=delivery.recipient, channel=delivery.channel, attempts=attempts, error=error,
                             reference=requester.reference if requester else "")),
        composer=composer,
    )


async def _record_outcome(session: AsyncConnection, delivery: Row, status: str, attempts: int,
                          composer: Composer) -> None:
    await record_event(
        session, outbox,
        NotificationDeliveredV1(
            source=SOURCE, correlationid=delivery.request_id or delivery.cause_event_id,
            # Events, inbound messages and failed deliveries all have UUIDs.
            data=dict(delivery_id=delivery.id, cause_event_id=UUID(delivery.cause_event_id),
                      request_id=delivery.request_id, recipient=delivery.recipient, channel=delivery.channel,
                      status=status, attempts=attempts, delivered_at=composer.now()),
        ),
    )


# --- the delivery log ---------------------------------------------------------------------------


def _masked_address(delivery: Row) -> str:
    if delivery.channel == "sms":
        return mask_phone(delivery.address)
    return "(chat)" if delivery.address else "(none)"


async def list_deliveries(*, session: AsyncConnection, principal: Principal, filters: dict[str, Any],
                          tree: CommunityTree, limit: int, offset: int) -> tuple[list[DeliveryOut], int]:
    """One page of the delivery log, newest first, and how many match in all;
    a coordinator sees only the messages of the communities they cover (a
    district's coordinator, those of its communities)."""
    scope = visible_communities(principal, tree)
    rows, total = await store.list_deliveries(session, {**filters, "communities": scope}, limit, offset)
    return [
        DeliveryOut(id=row.id, cause_type=row.cause_type, request_id=row.request_id,
                    recipient=row.recipient, channel=row.channel, to=_masked_address(row), status=row.status,
                    attempts=row.attempts, last_error=row.last_error, body=row.body, locale=row.locale,
                    template=row.template, created_at=row.created_at,
                    next_attempt_at=row.next_attempt_at, sent_at=row.sent_at)
        for row in rows
    ], total

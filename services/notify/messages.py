"""Messages: their words in the recipient's language (within the SMS segments
allowed), when they may go (quiet hours), and queueing each once per cause,
recipient and channel.  `Composer` holds what that needs besides a session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.contracts import Event

from . import store
from .quiet import parse_hhmm, quiet_until
from .settings import NotifySettings
from .templates import MessageTemplates


@dataclass(frozen=True)
class Message:
    """A template and its values; `free` names the value to shorten when an SMS is too long."""

    template: str
    values: dict[str, Any]
    free: str | None = None


@dataclass(frozen=True)
class Cause:
    """Why a message is sent: an event, an inbound reply or a failed delivery
    (each has a UUID), and the request it is about, if any."""

    id: str
    type: str
    request_id: str | None = None

    @classmethod
    def of(cls, event: Event, request_id: str | None = None) -> Cause:
        return cls(str(event.id), event.type, request_id)


@dataclass
class Composer:
    """Writes and times notify's messages: the templates of each language, the
    local time shown in texts and quiet hours, the coordinators' addresses,
    and the clock (tests inject one to stand at 23:00)."""

    settings: NotifySettings
    templates: MessageTemplates
    clock: Callable[[], datetime] = utcnow

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def quiet_until(self, moment: datetime) -> datetime | None:
        """The end of the quiet hours `moment` falls in, or None."""
        start, end = self.settings.quiet_start, self.settings.quiet_end
        if not (start and end):
            return None
        return quiet_until(moment, parse_hhmm(start), parse_hhmm(end), self.zone)

    def coordinator_urls(self, community: str | None) -> list[str]:
        urls = self.settings.coordinator_urls
        return list(urls.get(community or "*") or urls.get("*") or [])

    def local_time(self, moment: datetime, since: datetime | None = None) -> str:
        """14:30 in the configured zone; with the date when it is not the day of `since`."""
        local = moment.astimezone(self.zone)
        if since is not None and since.astimezone(self.zone).date() != local.date():
            return local.strftime("%m-%d %H:%M")
        return local.strftime("%H:%M")

    def body(self, message: Message, *, channel: str, locale: str) -> str:
        if channel == "sms":
            return self.templates.render_sms(message.template, locale, self.settings.sms_max_segments,
                                             free=message.free, **message.values)
        return self.templates.render(message.template, locale, **message.values)


async def queue_message(
    *, session: AsyncConnection, cause: Cause, message: Message, recipient: str, channel: str, address: str,
    locale: str | None, community: str | None, urgent: bool, composer: Composer,
) -> None:
    """Queues `message` once for this cause, recipient and channel: pending
    (a non-urgent one deferred to the end of quiet hours), or suppressed when
    there is no address or the number opted out."""
    now = composer.now()
    locale = composer.templates.locale_for(locale)
    body = composer.body(message, channel=channel, locale=locale)
    status, error, due = "pending", None, now
    if not address:
        status, error = "suppressed", "no address configured for this recipient"
    elif channel == "sms" and await store.opted_out_among(session, [address]):
        status, error = "suppressed", "the recipient opted out"
    elif not urgent:
        due = composer.quiet_until(now) or now
    await store.queue_delivery(
        session,
        dict(id=str(uuid4()), cause_event_id=cause.id, cause_type=cause.type, request_id=cause.request_id,
             recipient=recipient, channel=channel, address=address, body=body, status=status, attempts=0,
             next_attempt_at=due, last_error=error, created_at=now, locale=locale, template=message.template,
             community=community, urgent=urgent),
    )

"""Channels, where messages go out: small classes in front of apprise, so the
rest of notify never sees a provider.  A channel raises `SendFailed` when the
provider did not take the message."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import apprise

from shared.phones import mask_phone

from .settings import NotifySettings

log = logging.getLogger("heartline.notify.channels")


class SendFailed(Exception):
    """The provider did not take the message; the text says why, never the address."""


class Channel:
    async def send(self, address: str, title: str, body: str, *, template: str | None = None) -> None:
        """Hands `body` to the provider for `address`; `template` names what kind of message it is."""
        raise NotImplementedError


class AppriseChannel(Channel):
    """`address` is a full apprise URL (a team's chat_url), or, with a
    `template`, the value put in place of `{to}` (an SMS recipient)."""

    def __init__(self, template: str | None = None, timeout: float = 10.0) -> None:
        self.template = template
        self.timeout = timeout

    def url_for(self, address: str) -> str:
        if self.template is None:
            return address
        return self.template.replace("{to}", quote(address, safe=""))

    async def send(self, address: str, title: str, body: str, *, template: str | None = None) -> None:
        notifier = apprise.Apprise()
        if not notifier.add(self.url_for(address)):
            raise SendFailed("the apprise URL is not valid")
        try:
            async with asyncio.timeout(self.timeout):
                ok = await notifier.async_notify(title=title, body=body)
        except TimeoutError as exc:
            raise SendFailed("the provider did not answer in time") from exc
        if not ok:
            raise SendFailed("the provider refused the message")


class LogChannel(Channel):
    """Development stand-in when no provider is configured: that a message
    went is written to the log, with the recipient masked, its template and
    its length; never its body (it may hold a requester's name and phone)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def send(self, address: str, title: str, body: str, *, template: str | None = None) -> None:
        shown = mask_phone(address) if address.startswith("+") else "(team chat)"
        log.info("[%s to %s] %s, %d characters (not sent: no provider configured)",
                 self.kind, shown, template or "message", len(body))


def build_channels(settings: NotifySettings) -> dict[str, Channel]:
    """SMS through the configured gateway (or the log, in development), chat to each team's own URL."""
    sms: Channel = (
        AppriseChannel(settings.sms_url, settings.send_timeout_seconds)
        if settings.sms_url else LogChannel("sms")
    )
    return {"sms": sms, "chat": AppriseChannel(None, settings.send_timeout_seconds)}

"""Where messages go out: small channel classes in front of apprise, so the
rest of notify never sees a provider.  A channel raises `SendFailed` when the
provider did not take the message."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import apprise

log = logging.getLogger("heartline.notify.channels")


class SendFailed(Exception):
    pass


def mask_phone(phone: str) -> str:
    """+8613800138000 -> +86138****8000: enough to tell messages apart in a log."""
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else "****"


class Channel:
    async def send(self, address: str, title: str, body: str) -> None:
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

    async def send(self, address: str, title: str, body: str) -> None:
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
    """Development stand-in when no provider is configured: the message is
    written to the log, with the recipient masked."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def send(self, address: str, title: str, body: str) -> None:
        shown = mask_phone(address) if address.startswith("+") else "(team chat)"
        log.info("[%s to %s] %s", self.kind, shown, body)

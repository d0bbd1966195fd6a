"""Notify's clock-driven door: sends queued deliveries as they come due,
within each channel's rate limit."""

from __future__ import annotations

import asyncio

from shared.runtime import Runtime
from shared.waiting import wake_or_timeout

from . import service
from .channels import AppriseChannel, Channel, LogChannel
from .ratelimit import SlidingWindowLimiter
from .service import Notifier
from .settings import NotifySettings


def build_channels(settings: NotifySettings) -> dict[str, Channel]:
    sms: Channel = (
        AppriseChannel(settings.sms_url, settings.send_timeout_seconds)
        if settings.sms_url else LogChannel("sms")
    )
    return {"sms": sms, "chat": AppriseChannel(None, settings.send_timeout_seconds)}


class DeliverySender:
    def __init__(self, runtime: Runtime, notifier: Notifier, channels: dict[str, Channel],
                 interval_seconds: float = 1.0) -> None:
        self.runtime = runtime
        self.notifier = notifier
        self.channels = channels
        self.interval_seconds = interval_seconds
        # Per replica: N replicas together send up to N times the configured rate.
        self.limiters = {
            channel: SlidingWindowLimiter(rate)
            for channel, rate in notifier.settings.rate_per_second.items() if channel in channels
        }
        self._wake = asyncio.Event()
        runtime.db.after_commit(self._wake.set)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            async with self.runtime.db.transaction() as session:
                round_ = await service.send_due(session, self.notifier, self.channels, self.limiters,
                                                self.notifier.settings.send_batch,
                                                self.notifier.settings.send_concurrency)
            if round_.handled:
                continue
            await wake_or_timeout(self._wake, round_.wait or self.interval_seconds)

"""Notify's timed loops: the sender, which sends queued deliveries as they come
due, within each channel's rate limit (it wakes after every commit, as one
may have queued a message, else when a rate limit or a second has passed);
and the retention job, which removes personal data once it is old enough.
Each round is one transaction (the door)."""

from __future__ import annotations

import asyncio

from shared.runtime import Runtime
from shared.waiting import wake_or_timeout

from . import retention, sending
from .channels import Channel
from .messages import Composer
from .ratelimit import SlidingWindowLimiter

IDLE_SECONDS = 1.0  # how often an idle sender looks for deliveries that came due


def register(runtime: Runtime, composer: Composer, channels: dict[str, Channel]) -> None:
    settings = composer.settings
    # Per replica: N replicas together send up to N times the configured rate.
    limiters = {
        channel: SlidingWindowLimiter(rate)
        for channel, rate in settings.rate_per_second.items() if channel in channels
    }
    queued = asyncio.Event()
    runtime.db.after_commit(queued.set)

    async def send_due_deliveries() -> None:
        while True:
            queued.clear()
            async with runtime.db.transaction() as session:
                sent = await sending.send_due(session=session, channels=channels, limiters=limiters,
                                              composer=composer, batch=settings.send_batch,
                                              concurrency=settings.send_concurrency)
            if sent.handled:
                continue
            await wake_or_timeout(queued, sent.wait or IDLE_SECONDS)

    async def forget_personal_data() -> None:
        while True:
            async with runtime.db.transaction() as session:
                await retention.forget_personal_data(session=session, now=composer.now(),
                                                     days=settings.personal_data_days)
            await asyncio.sleep(settings.retention_interval_seconds)

    runtime.background(send_due_deliveries)
    runtime.background(forget_personal_data)

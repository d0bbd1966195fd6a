"""Intake's timed loop: the webhook sender, which posts due deliveries to the
partners' callbacks and records each try (see webhook_deliveries)."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from shared.runtime import Runtime

from . import webhook_deliveries
from .settings import IntakeSettings

log = logging.getLogger("heartline.intake")


def register(runtime: Runtime, settings: IntakeSettings) -> None:
    runtime.background(lambda: send_webhooks(runtime, settings))


async def send_webhooks(runtime: Runtime, settings: IntakeSettings) -> None:
    """Posts due webhook deliveries, signed, and records each try.  Its own
    transactions do not wake the outbox relay: they never hold events."""
    lease = settings.webhook_timeout_seconds * 2 + 5
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                                 follow_redirects=False) as http:
        while True:
            async with runtime.db.transaction_without_events() as session:
                due = await webhook_deliveries.claim_due(session=session, lease_seconds=lease)
            for delivery in due:
                status, error = await _post(http, delivery)
                async with runtime.db.transaction_without_events() as session:
                    await webhook_deliveries.record_try(session=session, delivery=delivery, status_code=status,
                                                        error=error, settings=settings)
                log.info("webhook delivery %s: %s", delivery.id, status or error)
            if not due:
                await asyncio.sleep(settings.webhook_poll_seconds)


async def _post(http: httpx.AsyncClient, delivery: webhook_deliveries.DueDelivery) -> tuple[int | None, str | None]:
    try:
        response = await http.post(delivery.url, content=delivery.body, headers=delivery.headers(int(time.time())))
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: could not reach the callback"
    return response.status_code, None

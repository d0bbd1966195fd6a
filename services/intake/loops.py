"""Intake's timed loops: the webhook sender, which posts due deliveries to the
partners' callbacks and records each try (see webhook_deliveries); the
retention of personal data; the pruning of spent form tokens."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from shared.outbound import UnsafeUrl, check_destination
from shared.runtime import Runtime

from . import form_tokens, retention, webhook_deliveries
from .settings import IntakeSettings

log = logging.getLogger("heartline.intake")

REFUSED = "refused: address not allowed"


def register(runtime: Runtime, settings: IntakeSettings) -> None:
    runtime.background(lambda: send_webhooks(runtime, settings))
    runtime.background(lambda: keep_tidy(runtime, settings))


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
                status, error = await post(http, delivery, settings.outbound_allowed_hosts)
                async with runtime.db.transaction_without_events() as session:
                    await webhook_deliveries.record_try(session=session, delivery=delivery, status_code=status,
                                                        error=error, settings=settings)
                log.info("webhook delivery %s: %s", delivery.id, webhook_deliveries.outcome(status, error))
            if not due:
                await asyncio.sleep(settings.webhook_poll_seconds)


async def post(http: httpx.AsyncClient, delivery: webhook_deliveries.DueDelivery,
               allowed_hosts: list[str]) -> tuple[int | None, str | None]:
    """One try: (HTTP status, None), or (None, what kept it from being made).
    The host is checked right before the post (a name may resolve elsewhere
    today), redirects are not followed, and nothing the remote said is kept."""
    try:
        await check_destination(delivery.url, allowed_hosts=allowed_hosts)
    except UnsafeUrl:
        return None, REFUSED
    try:
        response = await http.post(delivery.url, content=delivery.body, headers=delivery.headers(int(time.time())))
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError:
        return None, "unreachable"
    return response.status_code, None


async def keep_tidy(runtime: Runtime, settings: IntakeSettings) -> None:
    """Removes personal data past its time, and spent form tokens past their expiry."""
    while True:
        async with runtime.db.transaction_without_events() as session:
            removed = await retention.remove_personal_data(session=session, days=settings.personal_data_days)
            pruned = await form_tokens.prune(session=session)
        if removed or pruned:
            log.info("retention: personal data removed from %d requests; %d spent form tokens forgotten",
                     removed, pruned)
        await asyncio.sleep(settings.retention_poll_seconds)

"""Intake's bus subscribers and clock-driven loop: thin doors into the use cases."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from shared.contracts import (
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
)
from shared.runtime import Runtime

from . import service, webhooks
from .settings import IntakeSettings

log = logging.getLogger("heartline.intake")


def register(runtime: Runtime, settings: IntakeSettings) -> None:
    bus = runtime.bus

    @bus.subscriber("request-status", RequestStatusChangedV1,
                    "Keeps the requester-facing status current.")
    async def on_request_status_changed(event: RequestStatusChangedV1) -> None:
        await runtime.once("intake-request-status", event,
                           lambda session: service.apply_dispatch_status(session, event))

    @bus.subscriber("request-feedback", RequestFeedbackGivenV1,
                    "Records feedback a requester gave by SMS (relayed by notify).")
    async def on_request_feedback(event: RequestFeedbackGivenV1) -> None:
        if event.source == service.SOURCE:
            return  # our own, recorded when it was given
        await runtime.once("intake-request-feedback", event,
                           lambda session: service.record_relayed_feedback(session, event))

    bus.publisher(RequestReceivedV1, "A request for help was accepted and stored.")
    bus.publisher(RequestCancelledV1, "A partner or coordinator withdrew a request.")
    bus.publisher(RequestFeedbackGivenV1, "The requester rated a done request through the API.")

    runtime.background(lambda: deliver_webhooks(runtime, settings))


async def deliver_webhooks(runtime: Runtime, settings: IntakeSettings) -> None:
    """Posts due webhook deliveries, signed, and records each try.  Its own
    transactions do not wake the outbox relay: they never hold events."""
    lease = settings.webhook_timeout_seconds * 2 + 5
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                                 follow_redirects=False) as http:
        while True:
            async with runtime.db.transaction_without_events() as session:
                due = await service.claim_due_webhooks(session, lease)
            for delivery in due:
                status, error = await _post(http, delivery)
                async with runtime.db.transaction_without_events() as session:
                    await service.webhook_attempted(session, delivery, status, error, settings)
                log.info("webhook delivery %s: %s", delivery.id, status or error)
            if not due:
                await asyncio.sleep(settings.webhook_poll_seconds)


async def _post(http: httpx.AsyncClient, delivery: service.DueDelivery) -> tuple[int | None, str | None]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Heartline-Webhooks/1",
        "Heartline-Delivery": delivery.id,
        webhooks.SIGNATURE_HEADER: webhooks.signature(delivery.secret, int(time.time()), delivery.body),
    }
    try:
        response = await http.post(delivery.url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: could not reach the callback"
    return response.status_code, None

"""Webhook deliveries: each requester-facing status change of a partner's
request, queued for the partner's callback, signed, and retried with backoff;
every try is recorded where the partner can read it.  loops.py posts them."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import backoff_seconds, utcnow
from shared.http import Principal

from . import store
from .partners import require_partner
from .schemas import DeliveryOut
from .settings import IntakeSettings

SIGNATURE_HEADER = "Heartline-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>." + body>`.  Signing the
    timestamp with the body lets a receiver refuse old replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """What a receiver does with the header (and what the tests do)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def body(payload: dict[str, Any]) -> bytes:
    """What is posted: the payload as compact JSON with sorted keys."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


async def queue_status_change(
    *, session: AsyncConnection, request: Row[Any], status: str, at: datetime, reason: str | None,
) -> None:
    """Queues `request`'s move from its stored status to `status` for its
    partner's callback; nothing when the owner has none."""
    partner = await store.get_partner(session, request.submitted_by)
    if partner is None or not partner.webhook_url:
        return
    payload = dict(
        delivery_id=str(uuid4()), event="request.status_changed", request_id=request.id,
        reference=request.reference, external_id=request.external_id, status=status,
        previous_status=request.status, reason=reason, at=at.isoformat(),
    )
    now = utcnow()
    await store.insert_delivery(session, dict(
        id=payload["delivery_id"], partner_id=partner.id, request_id=request.id,
        url=partner.webhook_url, payload=json.dumps(payload), state="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    ))


async def list_deliveries(
    *, session: AsyncConnection, principal: Principal, request_id: str | None, limit: int, offset: int = 0,
) -> tuple[list[DeliveryOut], int]:
    """A page of the calling partner's deliveries, newest first (of one request,
    if given), and how many there are; never another partner's."""
    partner_id = require_partner(principal)
    rows = await store.list_deliveries(session, partner_id, request_id, limit, offset)
    return [
        DeliveryOut(id=d.id, request_id=d.request_id, state=d.state, attempts=d.attempts,
                    last_status_code=d.last_status_code, last_error=d.last_error,
                    next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
                    created_at=d.created_at, delivered_at=d.delivered_at,
                    payload=json.loads(d.payload))
        for d in rows
    ], await store.count_deliveries(session, partner_id, request_id)


@dataclass(frozen=True)
class DueDelivery:
    """A delivery leased for posting: where, what, and with which secret."""

    id: str
    url: str
    body: bytes
    secret: str
    attempts: int

    def headers(self, timestamp: int) -> dict[str, str]:
        """The POST's headers, signed at `timestamp` (unix seconds)."""
        return {
            "Content-Type": "application/json",
            "User-Agent": "Heartline-Webhooks/1",
            "Heartline-Delivery": self.id,
            SIGNATURE_HEADER: signature(self.secret, timestamp, self.body),
        }


async def claim_due(*, session: AsyncConnection, lease_seconds: float, limit: int = 20) -> list[DueDelivery]:
    """Due deliveries, leased for `lease_seconds` so no other replica posts them meanwhile."""
    now = utcnow()
    rows = await store.claim_due_deliveries(session, now, now + timedelta(seconds=lease_seconds), limit)
    return [DueDelivery(r.id, r.url, body(json.loads(r.payload)), r.webhook_secret or "", r.attempts)
            for r in rows]


def outcome(status_code: int | None, error: str | None) -> str:
    """What the delivery log says of a try: a status class ("2xx", "3xx" - a
    redirect is not followed -, "4xx", "5xx") or why none came ("timeout",
    "unreachable", "refused: address not allowed"); never what the remote wrote."""
    if status_code is not None:
        return f"{min(max(status_code // 100, 1), 5)}xx"
    return error or "unreachable"


async def record_try(
    *, session: AsyncConnection, delivery: DueDelivery, status_code: int | None, error: str | None,
    settings: IntakeSettings,
) -> None:
    """Records one try: delivered on 2xx, else retried with backoff until the
    attempts run out."""
    now = utcnow()
    attempts = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        await store.record_attempt(session, delivery.id, state="delivered", attempts=attempts,
                                   status_code=status_code, error=None, next_attempt_at=None,
                                   delivered_at=now)
        return
    error = outcome(status_code, error)
    if attempts >= settings.webhook_max_attempts:
        await store.record_attempt(session, delivery.id, state="failed", attempts=attempts,
                                   status_code=status_code, error=error, next_attempt_at=None,
                                   delivered_at=None)
        return
    retry_in = backoff_seconds(attempts, base=settings.webhook_retry_base_seconds,
                               cap=settings.webhook_retry_max_seconds)
    await store.record_attempt(session, delivery.id, state="pending", attempts=attempts,
                               status_code=status_code, error=error, delivered_at=None,
                               next_attempt_at=now + timedelta(seconds=retry_in))

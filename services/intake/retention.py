"""Retention of personal data: a request closed or cancelled more than
INTAKE_PERSONAL_DATA_DAYS ago loses its requester's name, phone and address,
its description, the operator's notes, the feedback comment, the reasons in
its history and the payloads of its webhook deliveries.  What statistics need
stays: category, community, place, urgency, people, times, status, rating."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow

from . import store

ENDED = ("closed", "cancelled")


async def remove_personal_data(*, session: AsyncConnection, days: float) -> int:
    """Removes what identifies the requester from requests that ended more than
    `days` ago (and not yet cleared); how many requests were cleared."""
    now = utcnow()
    return await store.remove_personal_data(session, statuses=ENDED, ended_before=now - timedelta(days=days), now=now)

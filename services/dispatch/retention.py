"""Retention of personal data: what dispatch keeps of a request once it is
finished (closed, cancelled or done) and DISPATCH_PERSONAL_DATA_DAYS have
passed.  Removed: the summary (the requester's own words), the exact location
(rounded to about a kilometre), status reasons, coordinators' notes and the
reasons people typed into the history.  Kept, for the statistics: category,
urgency, community, vulnerabilities, people, times, statuses and outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from . import community_store

BATCH = 500


async def remove_personal_data(*, session: AsyncConnection, now: datetime, days: float) -> int:
    """Scrubs up to BATCH requests finished more than `days` before `now`; how many."""
    due = await community_store.finished_with_personal_data(session, now - timedelta(days=days), BATCH)
    await community_store.remove_personal_data(session, due, now)
    return len(due)

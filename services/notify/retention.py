"""Retention of personal data: some days (NOTIFY_PERSONAL_DATA_DAYS) after a
request is closed or cancelled, after a message was sent, a reply received
or a consent changed, the names, phones, addresses and texts notify kept go;
what the statistics need (category, community, channel, kind, status,
outcome, times) stays."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from . import store

log = logging.getLogger("heartline.notify")


async def forget_personal_data(*, session: AsyncConnection, now: datetime, days: float) -> dict[str, int]:
    """Removes the personal data older than `days` and says how many rows of each table lost theirs."""
    forgotten = await store.forget_personal_data(session, now - timedelta(days=days))
    if any(forgotten.values()):
        log.info("personal data removed after %s days: %s", days,
                 ", ".join(f"{table} {count}" for table, count in forgotten.items() if count))
    return forgotten

"""The queries of dispatch's read model of communities and of the retention
of personal data (beside store.py, which holds every other query)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from .models import audit, communities, notes, requests

# Request statuses after which nobody works on a request any more.
FINISHED_STATES = ("closed", "cancelled", "done")


async def upsert_community(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """Applies a community's state if it is newer than what we hold."""
    current = (await session.execute(
        select(communities.c.version).where(communities.c.code == values["code"]).with_for_update()
    )).scalar_one_or_none()
    if current is not None and values["version"] <= current:
        return False
    if current is None:
        await session.execute(communities.insert().values(**values))
    else:
        await session.execute(update(communities).where(communities.c.code == values["code"]).values(**values))
    return True


async def community_parents(session: AsyncConnection) -> list[Row[Any]]:
    """(code, parent, level, boundary) of every community, district and city."""
    return list((await session.execute(
        select(communities.c.code, communities.c.parent, communities.c.level, communities.c.boundary)
    )).all())


async def finished_with_personal_data(session: AsyncConnection, before: datetime, limit: int) -> list[str]:
    """Requests finished (closed, cancelled, done) before `before` whose personal data is still there."""
    result = await session.execute(
        select(requests.c.id)
        .where(requests.c.status.in_(FINISHED_STATES), requests.c.personal_data_removed_at.is_(None),
               func.coalesce(requests.c.closed_at, requests.c.updated_at) < before)
        .order_by(requests.c.updated_at).limit(limit)
    )
    return list(result.scalars())


async def remove_personal_data(session: AsyncConnection, request_ids: list[str], now: datetime) -> None:
    """Blanks what people wrote or where they live; keeps category, community,
    urgency, times and outcome (what the statistics read)."""
    if not request_ids:
        return
    # About 1 km: the neighbourhood stays on the map, the door does not.
    await session.execute(
        update(requests).where(requests.c.id.in_(request_ids))
        .values(summary="", lat=func.round(requests.c.lat * 100) / 100, lon=func.round(requests.c.lon * 100) / 100,
                status_reason=None, personal_data_removed_at=now)
    )
    await session.execute(update(notes).where(notes.c.request_id.in_(request_ids)).values(text="[removed]"))
    await session.execute(update(audit).where(audit.c.request_id.in_(request_ids)).values(reason=None))

"""Dispatch's read model of communities, districts and cities (volunteers'
aid.community.changed.v1) and each replica's in-memory `CommunityTree`, which
every scope check and the offers' community rule ask.

The tree is rebuilt at once in the replica that applied a change and, since
replicas share the `dispatch-communities` consumer, reloaded by every replica
every `community_reload_seconds`.  A community the read model does not know
is a leaf of its own: a scope naming it covers exactly it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import CommunityChangedV1
from shared.db import Database
from shared.scope import CommunityTree
from shared.waiting import wake_or_timeout

from . import community_store
from .matching import Area

log = logging.getLogger("heartline.dispatch.communities")


async def apply_community_change(*, session: AsyncConnection, event: CommunityChangedV1) -> bool:
    """Keeps the read model; True when the change was newer than what it held."""
    c = event.data
    return await community_store.upsert_community(session, dict(
        code=c.code, version=c.version, level=c.level, parent=c.parent, name_zh=c.name_zh, name_en=c.name_en,
        timezone=c.timezone, boundary=c.boundary, hotline=c.hotline, status=c.status, changed_at=c.changed_at,
    ))


class CommunityDirectory:
    """The tree of communities as this replica last read it, and the
    boundaries of the communities that have one (to place a request that came
    without a community)."""

    def __init__(self, db: Database, reload_seconds: float = 5.0) -> None:
        self.db = db
        self.reload_seconds = reload_seconds
        self.tree = CommunityTree({})
        self.areas: list[tuple[str, list[Area]]] = []
        self._wake = asyncio.Event()

    async def refresh_now(self) -> None:
        """Reads the read model again (a change was applied here, or it is time)."""
        async with self.db.transaction() as session:
            rows = await community_store.community_parents(session)
        self.tree = CommunityTree({r.code: r.parent for r in rows})
        self.areas = [(r.code, _areas(r.code, r.boundary)) for r in rows
                      if r.level == "community" and r.boundary is not None]

    def locate(self, lat: float, lon: float) -> str | None:
        """The community whose boundary holds the point, if one does."""
        for code, areas in self.areas:
            if any(area.contains(lat, lon) for area in areas):
                return code
        return None

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.refresh_now()
            except Exception:  # the database away: keep the last tree, try again
                log.warning("communities: reload failed; keeping the last tree", exc_info=True)
            await wake_or_timeout(self._wake, self.reload_seconds)


def _areas(code: str, boundary: dict[str, Any]) -> list[Area]:
    """A Polygon or MultiPolygon as Areas; an unreadable one counts as none (and is logged)."""
    polygons: list[Any] = [boundary.get("coordinates")]
    if boundary.get("type") == "MultiPolygon":
        polygons = list(boundary.get("coordinates") or [])
    try:
        return [Area.from_geojson({"type": "Polygon", "coordinates": p}) for p in polygons]
    except ValueError as exc:
        log.warning("community %s: ignoring its boundary (%s)", code, exc)
        return []

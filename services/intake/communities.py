"""The communities read model, kept from volunteers' `aid.community.changed.v1`:
the QR forms and their lists, where a request given without a community is
placed (point in polygon), and the tree a coordinator's scope is read with.

Each replica holds the catalogue in memory (an STRtree over the boundaries of
active communities).  The replica that applies a change rebuilds it at once;
the others reload it when it is older than `max_age_seconds`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import CommunityChangedV1
from shared.db import Database
from shared.http import not_found
from shared.scope import CommunityTree

from . import store
from .schemas import CommunityOut
from .settings import IntakeSettings


@dataclass(frozen=True)
class Community:
    code: str
    level: str
    parent: str | None
    name_zh: str
    name_en: str
    timezone: str
    hotline: str | None
    status: str
    area: BaseGeometry | None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh

    @property
    def is_form(self) -> bool:
        """A community (not a district or city) that takes requests."""
        return self.level == "community" and self.status == "active"


def _geometry(boundary: Any) -> BaseGeometry | None:
    if not boundary:
        return None
    try:
        geometry = shape(boundary)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    if not geometry.is_valid:
        geometry = geometry.buffer(0)
    return None if geometry.is_empty else geometry


class Catalogue:
    """The communities in memory: who is known, the tree, and point-in-polygon."""

    def __init__(self, max_age_seconds: float = 10.0) -> None:
        self.max_age_seconds = max_age_seconds
        self.by_code: dict[str, Community] = {}
        self.tree = CommunityTree({})
        self._index: STRtree | None = None
        self._areas: list[Community] = []
        self._loaded_at: float | None = None

    def rebuild(self, rows: list[Row[Any]]) -> None:
        self.by_code = {r.code: Community(r.code, r.level, r.parent, r.name_zh, r.name_en, r.timezone,
                                          r.hotline, r.status, _geometry(r.boundary)) for r in rows}
        self.tree = CommunityTree({c.code: c.parent for c in self.by_code.values()})
        self._areas = [c for c in self.by_code.values() if c.is_form and c.area is not None]
        self._index = STRtree([c.area for c in self._areas]) if self._areas else None
        self._loaded_at = time.monotonic()

    async def load(self, session: AsyncConnection) -> None:
        self.rebuild(await store.list_communities(session))

    async def current(self, db: Database) -> Catalogue:
        """Itself, reloaded first when it is older than `max_age_seconds`."""
        if self._loaded_at is None or time.monotonic() - self._loaded_at > self.max_age_seconds:
            async with db.connect() as session:
                await self.load(session)
        return self

    def forms(self) -> list[Community]:
        return sorted((c for c in self.by_code.values() if c.is_form), key=lambda c: c.code)

    def form(self, code: str) -> Community | None:
        community = self.by_code.get(code)
        return community if community is not None and community.is_form else None

    def locate(self, lat: float, lon: float) -> str | None:
        """The active community whose boundary holds the point (the smallest, if they overlap)."""
        if self._index is None:
            return None
        point = Point(lon, lat)
        hits = [self._areas[i] for i in self._index.query(point, predicate="intersects")]
        if not hits:
            return None
        return min(hits, key=lambda c: (c.area.area if c.area is not None else 0.0, c.code)).code

    def centre(self, code: str) -> tuple[float, float] | None:
        """(lat, lon) of a point inside the community, for a request placed by address."""
        community = self.by_code.get(code)
        if community is None or community.area is None:
            return None
        point = community.area.representative_point()
        return point.y, point.x


async def apply_change(*, session: AsyncConnection, event: CommunityChangedV1) -> bool:
    """Stores the community's new state unless a newer version is stored; True if applied."""
    data = event.data
    return await store.upsert_community_if_newer(session, dict(
        code=data.code, version=data.version, level=data.level, parent=data.parent, name_zh=data.name_zh,
        name_en=data.name_en, timezone=data.timezone, boundary=data.boundary, hotline=data.hotline,
        status=data.status, changed_at=data.changed_at))


def _community_out(community: Community, settings: IntakeSettings) -> CommunityOut:
    form_url = f"{settings.public_base_url.rstrip('/')}/form/{community.code}"
    centre = community.area.representative_point() if community.area is not None else None
    return CommunityOut(code=community.code, parent=community.parent,
                        name={"zh-CN": community.name_zh, "en": community.name_en},
                        timezone=community.timezone, hotline=community.hotline,
                        lat=centre.y if centre is not None else None,
                        lon=centre.x if centre is not None else None, form_url=form_url)


def get_community(*, catalogue: Catalogue, code: str, settings: IntakeSettings) -> CommunityOut:
    """One active community with its form's URL; 404 if there is none."""
    community = catalogue.form(code)
    if community is None:
        raise not_found(f"community {code}")
    return _community_out(community, settings)


def list_communities(*, catalogue: Catalogue, settings: IntakeSettings) -> list[CommunityOut]:
    """The active communities, by code."""
    return [_community_out(c, settings) for c in catalogue.forms()]

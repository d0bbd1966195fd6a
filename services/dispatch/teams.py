"""Dispatch's read model of teams: applying volunteers' team changes (with
their cells in the spatial index), and each team row as the matcher sees it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import TeamChangedV1

from . import store
from .matching import WIDEN_MARGIN_KM, Area, TeamSnapshot, cells_for_point, cells_for_team
from .store import TeamRow

log = logging.getLogger("heartline.dispatch")

# Parsed polygons, by (team, version): parsing is the costly part of a team row.
_AREAS: OrderedDict[tuple[str, int], Area] = OrderedDict()
_AREAS_HELD = 20_000


async def apply_team_change(*, session: AsyncConnection, event: TeamChangedV1) -> bool:
    """Keeps the read model of teams and their cells; True when the change was newer.
    An area that is not a valid polygon falls back to the circle (and is logged)."""
    team = event.data
    area = team.area
    if area is not None:
        try:
            Area.from_geojson(area)
        except ValueError as exc:
            log.warning("team %s v%s: ignoring its area (%s); using its circle", team.team_id, team.version, exc)
            area = None
    values = dict(
        id=str(team.team_id), version=team.version, name=team.name, community=team.community,
        lat=team.location.lat, lon=team.location.lon, radius_km=team.radius_km,
        categories=list(team.categories), capacity=team.capacity, status=team.status,
        on_duty=team.on_duty, area=area,
    )
    snapshot = _snapshot_from(values, open_tasks=0)
    cells: dict[int, bool] = {}
    if team.status != "deleted":
        cells = dict.fromkeys(cells_for_team(snapshot, WIDEN_MARGIN_KM), False)
        cells.update(dict.fromkeys(cells_for_team(snapshot), True))
    return await store.upsert_team(session, values, cells)


def team_snapshot(row: TeamRow) -> TeamSnapshot:
    """A team row as the matcher checks it, with its current open_tasks."""
    return _snapshot_from(row._mapping, row.open_tasks)


def index_snapshot(row: TeamRow) -> TeamSnapshot:
    """A team as the in-memory index holds it: without open_tasks (0), which
    changes with every offer and is read from the row when offering."""
    return _snapshot_from(row._mapping, open_tasks=0)


async def teams_near(*, session: AsyncConnection, lat: float, lon: float, widened: bool = True) -> dict[str, TeamRow]:
    """Every team filed under the point's cells, by id (a superset of those covering it)."""
    return {row.id: row for row in await store.teams_near(session, cells_for_point(lat, lon), widened)}


async def current_rows(*, session: AsyncConnection, team_ids: list[str]) -> dict[str, TeamRow]:
    """The current rows of these teams, by id, leaving out deleted ones."""
    return {row.id: row for row in await store.teams_by_id(session, team_ids) if row.status != "deleted"}


def _area(team_id: str, version: int, geojson: dict[str, Any] | None) -> Area | None:
    if geojson is None:
        return None
    key = (team_id, version)
    area = _AREAS.get(key)
    if area is None:
        area = _AREAS[key] = Area.from_geojson(geojson)
        if len(_AREAS) > _AREAS_HELD:
            _AREAS.popitem(last=False)
    return area


def _snapshot_from(values: Mapping[Any, Any], open_tasks: int) -> TeamSnapshot:
    return TeamSnapshot(
        id=values["id"], lat=values["lat"], lon=values["lon"], radius_km=values["radius_km"],
        categories=frozenset(values["categories"]), capacity=values["capacity"], open_tasks=open_tasks,
        active=values["status"] == "active", on_duty=values["on_duty"], community=values["community"],
        area=_area(values["id"], values["version"], values["area"]),
    )

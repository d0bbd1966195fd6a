"""Which teams can take a request, best first.  Pure: no I/O, no clock.

A team is a candidate when its service area contains the request's location
(a GeoJSON polygon when the team drew one, else a circle of `radius_km`
around its base), it serves the request's category, it is active and on
duty, and it has a free unit of capacity.  Candidates are ranked by
great-circle distance, then by how loaded they are.  Every other team gets
the first reason it fails, in that order, so a coordinator sees why and an
escalation can say how far the search got.

Candidate lookup goes through H3 cells (`cells_for_team` / `cells_for_point`):
each team is filed under the cells its reach (plus the widening margin)
touches, at a resolution chosen from its size, so a request looks at a handful
of cells instead of every team.  `TeamIndex` is that index in memory; dispatch's
store keeps the same cells in a table.  (Surge mode's joint assignment of a
backlog is in `surge`.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h3
from shapely import contains_xy, prepare
from shapely.geometry import Point, Polygon

from shared.geo import EARTH_RADIUS_KM, distance_km

URGENCY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
# Who is matched first among requests of the same urgency: the more fragile
# the person's situation, the higher the score.
VULNERABILITY_WEIGHT = {"elderly_alone": 8, "disabled": 4, "isolated": 2, "no_smartphone": 1}
# How much further than its own area a team is asked once nobody inside was found.
WIDEN_MARGIN_KM = 5.0

# Exclusion reasons, in the order they are checked (the funnel).
OUTSIDE_AREA = "outside_area"
NO_SKILL = "no_skill"
INACTIVE = "inactive"
OFF_DUTY = "off_duty"
NO_CAPACITY = "no_capacity"
ALREADY_TRIED = "already_tried"
# The team's community may not serve the request's (offers.serving_communities).
OTHER_COMMUNITY = "other_community"
_FUNNEL = {OTHER_COMMUNITY: 0, OUTSIDE_AREA: 0, NO_SKILL: 1, INACTIVE: 2, OFF_DUTY: 2, NO_CAPACITY: 3, ALREADY_TRIED: 4}
ESCALATION_REASONS = (
    "outside every team's area",
    "no team with the skill",
    "no team on duty",
    "no team with free capacity",
    "every team declined or let the offer expire",
)
NO_CAPACITY_REASON = ESCALATION_REASONS[3]


def vulnerability_score(vulnerabilities: Iterable[str]) -> int:
    return sum(VULNERABILITY_WEIGHT.get(v, 0) for v in set(vulnerabilities))


# --- service areas ------------------------------------------------------------------


_KM_PER_DEG_LAT = math.pi * EARTH_RADIUS_KM / 180


@dataclass(frozen=True, eq=False)
class Area:
    """A polygon service area (holes allowed), projected to kilometres around
    its first vertex: exact enough for areas a team can walk or drive."""

    lat0: float
    lon0: float
    polygon: Polygon
    center_lat: float
    center_lon: float
    bound_km: float  # every point of the area is within this of the center

    @classmethod
    def from_geojson(cls, geojson: dict[str, Any]) -> Area:
        """Raises ValueError for anything that is not a valid GeoJSON Polygon."""
        if not isinstance(geojson, dict) or geojson.get("type") != "Polygon":
            raise ValueError("area must be a GeoJSON Polygon")
        rings = geojson.get("coordinates")
        if not isinstance(rings, list) or not rings or len(rings[0]) < 4:
            raise ValueError("area needs an outer ring of at least 4 positions")
        lon0, lat0 = float(rings[0][0][0]), float(rings[0][0][1])
        coslat = max(math.cos(math.radians(lat0)), 1e-6)

        def project(ring: list[list[float]]) -> list[tuple[float, float]]:
            return [((float(p[0]) - lon0) * coslat * _KM_PER_DEG_LAT,
                     (float(p[1]) - lat0) * _KM_PER_DEG_LAT) for p in ring]

        polygon = Polygon(project(rings[0]), [project(r) for r in rings[1:]])
        if not polygon.is_valid or polygon.area <= 0:
            raise ValueError("area is not a valid polygon")
        prepare(polygon)
        c = polygon.centroid
        center_lat = lat0 + c.y / _KM_PER_DEG_LAT
        center_lon = lon0 + c.x / (coslat * _KM_PER_DEG_LAT)
        bound = max(math.hypot(x - c.x, y - c.y) for x, y in polygon.exterior.coords)
        return cls(lat0, lon0, polygon, center_lat, center_lon, bound * 1.02 + 0.01)

    def _xy(self, lat: float, lon: float) -> tuple[float, float]:
        coslat = max(math.cos(math.radians(self.lat0)), 1e-6)
        return (lon - self.lon0) * coslat * _KM_PER_DEG_LAT, (lat - self.lat0) * _KM_PER_DEG_LAT

    def contains(self, lat: float, lon: float) -> bool:
        x, y = self._xy(lat, lon)
        return bool(contains_xy(self.polygon, x, y))

    def distance_km(self, lat: float, lon: float) -> float:
        """0 inside the area; otherwise how far outside it the point is."""
        x, y = self._xy(lat, lon)
        if contains_xy(self.polygon, x, y):
            return 0.0
        return float(self.polygon.distance(Point(x, y)))


@dataclass(frozen=True)
class TeamSnapshot:
    id: str
    lat: float
    lon: float
    radius_km: float
    categories: frozenset[str]
    capacity: int
    open_tasks: int
    active: bool
    on_duty: bool = True
    community: str = ""
    area: Area | None = field(default=None, compare=False, hash=False)

    @property
    def free_capacity(self) -> int:
        return max(0, self.capacity - self.open_tasks)

    def reach(self) -> tuple[float, float, float]:
        """A circle (lat, lon, km) holding the whole service area."""
        if self.area is not None:
            return self.area.center_lat, self.area.center_lon, self.area.bound_km
        return self.lat, self.lon, self.radius_km

    def covers(self, lat: float, lon: float, margin_km: float = 0.0) -> bool:
        """The request's location is in the team's area (or within margin_km of it)."""
        if self.area is not None:
            if margin_km <= 0:
                return self.area.contains(lat, lon)
            return self.area.distance_km(lat, lon) <= margin_km
        return distance_km(lat, lon, self.lat, self.lon) <= self.radius_km + margin_km


@dataclass(frozen=True)
class Candidate:
    team_id: str
    distance_km: float
    open_tasks: int


@dataclass(frozen=True)
class Exclusion:
    team_id: str
    reason: str  # other_community | outside_area | no_skill | inactive | off_duty | no_capacity | already_tried


def exclusion_reason(team: TeamSnapshot, lat: float, lon: float, category: str,
                     margin_km: float = 0.0) -> str | None:
    """The first check `team` fails for a request, or None when it is a candidate."""
    if not team.covers(lat, lon, margin_km):
        return OUTSIDE_AREA
    if category not in team.categories:
        return NO_SKILL
    if not team.active:
        return INACTIVE
    if not team.on_duty:
        return OFF_DUTY
    if team.open_tasks >= team.capacity:
        return NO_CAPACITY
    return None


def match_candidates(
    lat: float, lon: float, category: str, teams: Iterable[TeamSnapshot],
    *, margin_km: float = 0.0, tried: frozenset[str] | set[str] = frozenset(),
    communities: frozenset[str] | None = None,
) -> tuple[list[Candidate], list[Exclusion]]:
    """Candidates best first, and why every other team was left out.  Teams in
    `tried` (they declined or let an offer expire) are left out last; with
    `communities`, teams of any other community are left out first."""
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for team in teams:
        if communities is not None and team.community not in communities:
            excluded.append(Exclusion(team.id, OTHER_COMMUNITY))
            continue
        reason = exclusion_reason(team, lat, lon, category, margin_km)
        if reason is None and team.id in tried:
            reason = ALREADY_TRIED
        if reason is not None:
            excluded.append(Exclusion(team.id, reason))
            continue
        candidates.append(Candidate(team.id, distance_km(lat, lon, team.lat, team.lon), team.open_tasks))
    candidates.sort(key=lambda c: (round(c.distance_km, 3), c.open_tasks, c.team_id))
    return candidates, excluded


def escalation_reason(excluded: Iterable[Exclusion]) -> str:
    """Why nobody could take a request: the furthest any team got through the
    checks (area, skill, on duty, capacity, not yet tried)."""
    stage = max((_FUNNEL[e.reason] for e in excluded), default=0)
    return ESCALATION_REASONS[stage]


# --- spatial index --------------------------------------------------------------------

# Coarse to fine; a team is filed at the finest one whose cells are still
# not small against its reach (a few dozen cells per team).
RESOLUTIONS = (2, 3, 4, 5, 6, 7, 8)
_EDGE_KM = {r: h3.average_hexagon_edge_length(r, unit="km") for r in RESOLUTIONS}
_CIRCLE_VERTICES = 24


def _resolution_for(reach_km: float) -> int:
    for res in reversed(RESOLUTIONS):
        if _EDGE_KM[res] * 4 >= reach_km:
            return res
    return RESOLUTIONS[0]


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    d = km / EARTH_RADIUS_KM
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def cells_for_team(team: TeamSnapshot, margin_km: float = 0.0) -> list[int]:
    """H3 cells (as integers) touching the team's reach plus `margin_km`: every
    point the team could cover (after widening by margin_km) lies in one."""
    lat, lon, reach = team.reach()
    reach += margin_km
    res = _resolution_for(reach)
    # A cell touches the disk only if its center is within reach + its
    # circumradius (under 1.1 average edges): fill that larger disk (a polygon
    # drawn around it) with the cells whose centers it holds.
    outer = (reach + 1.3 * _EDGE_KM[res]) / math.cos(math.pi / _CIRCLE_VERTICES)
    ring = [_offset(lat, lon, outer, 2 * math.pi * i / _CIRCLE_VERTICES) for i in range(_CIRCLE_VERTICES)]
    cells = set(h3.h3shape_to_cells(h3.LatLngPoly(ring), res))
    cells.add(h3.latlng_to_cell(lat, lon, res))
    return [h3.str_to_int(c) for c in cells]


def cells_for_point(lat: float, lon: float) -> list[int]:
    """The cell holding the point at every resolution teams are filed at."""
    return [h3.str_to_int(h3.latlng_to_cell(lat, lon, res)) for res in RESOLUTIONS]


class TeamIndex:
    """In-memory cell index of teams (what dispatch's `team_cells` table holds):
    the cells of each team's own area, and those it reaches once widened.
    `add` replaces a team already held; `discard` forgets one."""

    def __init__(self, teams: Iterable[TeamSnapshot] = ()) -> None:
        self.teams: dict[str, TeamSnapshot] = {}
        self._own: dict[int, list[str]] = {}
        self._widened: dict[int, list[str]] = {}
        self._cells: dict[str, tuple[list[int], list[int]]] = {}
        for team in teams:
            self.add(team)

    def add(self, team: TeamSnapshot) -> None:
        held = self.teams.get(team.id)
        if held is not None and held.reach() == team.reach():
            self.teams[team.id] = team  # same reach, same cells
            return
        self.discard(team.id)
        own, widened = cells_for_team(team), cells_for_team(team, WIDEN_MARGIN_KM)
        self.teams[team.id] = team
        self._cells[team.id] = (own, widened)
        for cell in own:
            self._own.setdefault(cell, []).append(team.id)
        for cell in widened:
            self._widened.setdefault(cell, []).append(team.id)

    def discard(self, team_id: str) -> None:
        if self.teams.pop(team_id, None) is None:
            return
        own, widened = self._cells.pop(team_id)
        for cells, index in ((own, self._own), (widened, self._widened)):
            for cell in cells:
                ids = index[cell]
                ids.remove(team_id)
                if not ids:
                    del index[cell]

    def near(self, lat: float, lon: float, widened: bool = False) -> list[TeamSnapshot]:
        """Every team that could cover the point (a superset; match_candidates decides)."""
        cells = self._widened if widened else self._own
        seen: set[str] = set()
        found: list[TeamSnapshot] = []
        for cell in cells_for_point(lat, lon):
            for team_id in cells.get(cell, ()):
                if team_id not in seen:
                    seen.add(team_id)
                    found.append(self.teams[team_id])
        return found

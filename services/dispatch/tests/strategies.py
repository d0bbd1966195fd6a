"""Hypothesis strategies for matching's and surge's property tests: teams
(circles or polygons with holes) and points around one city."""

from __future__ import annotations

from hypothesis import strategies as st

from services.dispatch.matching import Area, TeamSnapshot

CATEGORIES = ("medicine", "daily_necessities", "psychological_support")
LAT0, LON0 = 30.59, 114.30

lats = st.floats(LAT0 - 0.3, LAT0 + 0.3)
lons = st.floats(LON0 - 0.3, LON0 + 0.3)


@st.composite
def squares(draw):
    """A square polygon around a point, sometimes with a square hole."""
    lat, lon = draw(lats), draw(lons)
    half = draw(st.floats(0.01, 0.1))
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    rings = [ring]
    if draw(st.booleans()):
        h = half / 3
        rings.append([[lon - h, lat - h], [lon + h, lat - h], [lon + h, lat + h], [lon - h, lat + h], [lon - h, lat - h]])
    return {"type": "Polygon", "coordinates": rings}


@st.composite
def teams(draw, team_id: str):
    area = draw(st.none() | squares())
    return TeamSnapshot(
        id=team_id, lat=draw(lats), lon=draw(lons), radius_km=draw(st.floats(0.5, 15)),
        categories=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), max_size=3))),
        capacity=draw(st.integers(0, 3)), open_tasks=draw(st.integers(0, 3)),
        active=draw(st.booleans()), on_duty=draw(st.booleans()),
        area=Area.from_geojson(area) if area else None,
    )


@st.composite
def team_lists(draw, max_size: int = 25):
    n = draw(st.integers(0, max_size))
    return [draw(teams(f"t{i}")) for i in range(n)]

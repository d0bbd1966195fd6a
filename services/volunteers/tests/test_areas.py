"""Service areas: polygon validation (pure and through the API) and containment."""

from __future__ import annotations

from services.volunteers.areas import covers, polygon_problems
from tests.support.bus import TestBus

from .conftest import TEAM_CHANGED, team_body

# A square around central Wuhan with a square hole in its middle.
SHELL = [[114.28, 30.57], [114.34, 30.57], [114.34, 30.62], [114.28, 30.62], [114.28, 30.57]]
HOLE = [[114.30, 30.59], [114.32, 30.59], [114.32, 30.60], [114.30, 30.60], [114.30, 30.59]]
WITH_HOLE = {"type": "Polygon", "coordinates": [SHELL, HOLE]}


def test_a_point_in_the_hole_is_not_covered() -> None:
    assert covers(0, 0, 1, WITH_HOLE, lat=30.58, lon=114.29)          # in the shell
    assert not covers(0, 0, 1, WITH_HOLE, lat=30.595, lon=114.31)     # in the hole
    assert not covers(0, 0, 1, WITH_HOLE, lat=30.65, lon=114.31)      # outside
    assert covers(0, 0, 1, WITH_HOLE, lat=30.57, lon=114.30)          # on the boundary


def test_the_radius_circle_when_there_is_no_polygon() -> None:
    base = (30.5928, 114.3055)
    assert covers(*base, 2.0, None, lat=30.6000, lon=114.3055)        # ~0.8 km north
    assert not covers(*base, 2.0, None, lat=30.6200, lon=114.3055)    # ~3 km north


def test_what_makes_a_polygon_unacceptable() -> None:
    assert polygon_problems(WITH_HOLE) == []
    assert polygon_problems({"type": "Point", "coordinates": [1, 2]})
    assert "not closed" in polygon_problems({"type": "Polygon", "coordinates": [SHELL[:-1] + [[114.29, 30.57]]]})[0]
    assert "at least 4" in polygon_problems({"type": "Polygon", "coordinates": [SHELL[:3]]})[0]
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    assert "not valid" in polygon_problems({"type": "Polygon", "coordinates": [bowtie]})[0]
    out_of_range = [[190, 0], [191, 0], [191, 1], [190, 0]]
    assert "out of range" in polygon_problems({"type": "Polygon", "coordinates": [out_of_range]})[0]
    hole_outside = [[115.0, 31.0], [115.1, 31.0], [115.1, 31.1], [115.0, 31.0]]
    assert polygon_problems({"type": "Polygon", "coordinates": [SHELL, hole_outside]})
    assert polygon_problems({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]})  # no area
    assert polygon_problems({"type": "Polygon", "coordinates": [[["a", 0], [1, 1], [1, 0], ["a", 0]]]})


async def test_a_polygon_area_is_stored_and_published(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(area=WITH_HOLE))).json()
    assert team["area"] == WITH_HOLE
    async with TestBus(bus_env) as bus:
        event = (await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team["id"]))["data"]
    assert event["area"] == WITH_HOLE
    cleared = await volunteers.patch(f"/v1/teams/{team['id']}", json={"area": None})
    assert cleared.status_code == 200 and cleared.json()["area"] is None


async def test_bad_areas_and_radii_are_problems_naming_the_field(volunteers) -> None:
    open_ring = {"type": "Polygon", "coordinates": [SHELL[:-1] + [[114.29, 30.57]]]}
    response = await volunteers.post("/v1/teams", json=team_body(area=open_ring, radius_km=0))
    assert response.status_code == 422
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert "not closed" in errors["area"] and "radius_km" in errors
    too_far = await volunteers.post("/v1/teams", json=team_body(radius_km=500))
    assert too_far.status_code == 422 and too_far.json()["errors"][0]["field"] == "radius_km"
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    hole_outside = {"type": "Polygon", "coordinates": [SHELL, [[115.0, 31.0], [115.1, 31.0], [115.1, 31.1], [115.0, 31.0]]]}
    patch = await volunteers.patch(f"/v1/teams/{team['id']}", json={"area": hole_outside})
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "area"
    skills = (await volunteers.get("/v1/skills")).json()
    assert {"skill": "medicine_purchase", "categories": ["medicine"]} in skills

"""Communities as first-class entities: validation, parents, import (every entry or none),
the published aid.community.changed.v1, and no ghost teams."""

from __future__ import annotations

import json

from services.volunteers.skills import SKILL_CATEGORIES
from tests.support.bus import TestBus

from .conftest import CENTRAL, HONGSHAN_07, box, community, team_body

CHANGED = "aid.community.changed.v1"


async def test_a_community_is_published_and_versioned(volunteers, bus_env) -> None:
    body = {**community("wuhan-jianghan-09", parent="wuhan-jianghan", boundary=CENTRAL), "hotline": "+862785550100"}
    created = await volunteers.post("/v1/communities", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    changed = await volunteers.put("/v1/communities/wuhan-jianghan-09",
                                   json={k: v for k, v in body.items() if k != "code"} | {"name_en": "Jianghan 9"})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    async with TestBus(bus_env) as bus:
        event = (await bus.wait_for(CHANGED, lambda e: e["data"]["code"] == "wuhan-jianghan-09"
                                    and e["data"]["version"] == 2))["data"]
    assert (event["name_en"], event["parent"], event["level"], event["hotline"]) == (
        "Jianghan 9", "wuhan-jianghan", "community", "+862785550100")
    listed = await volunteers.get("/v1/communities", params={"parent": "wuhan-jianghan", "limit": 2})
    assert listed.status_code == 200 and len(listed.json()) == 2 and int(listed.headers["x-total-count"]) >= 8
    assert (await volunteers.get("/v1/communities/wuhan-jianghan-09")).json()["name_en"] == "Jianghan 9"
    assert (await volunteers.get("/v1/communities/nowhere")).status_code == 404


async def test_bad_communities_name_the_field(volunteers) -> None:
    no_parent = await volunteers.post("/v1/communities", json=community("x-1", parent="nowhere", boundary=CENTRAL))
    assert no_parent.status_code == 422 and no_parent.json()["errors"][0]["field"] == "parent"
    upward = await volunteers.post("/v1/communities", json=community("x-2", "district", parent="wuhan-jianghan-01"))
    assert upward.status_code == 422 and upward.json()["errors"][0]["field"] == "parent"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    bad = await volunteers.post("/v1/communities", json={**community("x-3", parent="wuhan-jianghan", boundary=bowtie),
                                                         "timezone": "Mars/Olympus", "hotline": "12345"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"boundary", "timezone", "hotline"}
    # A cycle: the city may not be put below one of its own districts.
    cycle = await volunteers.put("/v1/communities/wuhan", json={k: v for k, v in community(
        "wuhan", "city", parent="wuhan-jianghan").items() if k != "code"})
    assert cycle.status_code == 422
    multi = {"type": "MultiPolygon", "coordinates": [CENTRAL["coordinates"], HONGSHAN_07["coordinates"]]}
    ok = await volunteers.post("/v1/communities", json=community("x-4", parent="wuhan-jianghan", boundary=multi))
    assert ok.status_code == 201, ok.text


async def test_only_an_admin_writes_communities(volunteers) -> None:
    issued = (await volunteers.post("/v1/coordinators", json={"name": "Chen", "communities": ["wuhan"]})).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    refused = await volunteers.post("/v1/communities", json=community("x-5", parent="wuhan-jianghan",
                                                                      boundary=CENTRAL), headers=headers)
    assert refused.status_code == 403
    assert (await volunteers.get("/v1/communities/wuhan", headers=headers)).status_code == 200


async def test_geojson_import_is_all_or_nothing(volunteers) -> None:
    def feature(code: str, geometry: dict | None, **props) -> dict:
        return {"type": "Feature", "geometry": geometry,
                "properties": {"code": code, "level": "community", "parent": "wuhan-qiaokou", "name_zh": code,
                               "name_en": code, **props}}

    district = {"type": "Feature", "geometry": None, "properties": {
        "code": "wuhan-qiaokou", "level": "district", "parent": "wuhan", "name_zh": "硚口", "name_en": "Qiaokou"}}
    good = [district, feature("wuhan-qiaokou-01", box(114.20, 30.56, 114.25, 30.60))]
    bad = [*good, feature("wuhan-qiaokou-02", None), feature("wuhan-qiaokou-03", CENTRAL, timezone="Nowhere/X")]
    refused = await volunteers.post("/v1/import/communities",
                                    content=json.dumps({"type": "FeatureCollection", "features": bad}))
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["errors"]}
    assert "feature 3.timezone" in fields and any(f.startswith("feature 2") for f in fields)
    assert (await volunteers.get("/v1/communities/wuhan-qiaokou")).status_code == 404  # nothing imported
    done = await volunteers.post("/v1/import/communities",
                                 content=json.dumps({"type": "FeatureCollection", "features": good}))
    assert done.status_code == 200 and done.json()["created"] == 2
    assert (await volunteers.get("/v1/communities/wuhan-qiaokou-01")).json()["parent"] == "wuhan-qiaokou"


async def test_csv_import_reads_a_boundary_column(volunteers) -> None:
    square = json.dumps(box(114.20, 30.56, 114.25, 30.60)).replace('"', '""')
    text = ("code,level,parent,name_zh,name_en,boundary\n"
            f'wuhan-qiaokou-05,community,wuhan-jianghan,桥口五,Qiaokou 5,"{square}"\n'
            "wuhan-qiaokou-06,community,wuhan-nowhere,桥口六,Qiaokou 6,not json\n")
    refused = await volunteers.post("/v1/import/communities", content=text, headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} >= {"row 3.boundary"}
    done = await volunteers.post("/v1/import/communities", content=text.splitlines(keepends=True)[0]
                                 + text.splitlines(keepends=True)[1], headers={"Content-Type": "text/csv"})
    assert done.status_code == 200, done.text
    assert (await volunteers.get("/v1/communities/wuhan-qiaokou-05")).json()["boundary"]["type"] == "Polygon"


async def test_no_ghost_teams(volunteers) -> None:
    # The attack: a team of jianghan-01 with its base inside hongshan-07 and a 50 km reach.
    attack = team_body(community="wuhan-jianghan-01", location={"lat": 30.50, "lon": 114.41}, radius_km=50,
                       capacity=1000, skills=sorted(SKILL_CATEGORIES))
    refused = await volunteers.post("/v1/teams", json=attack)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "location"
    # Based at home but reaching 50 km: refused on the radius.
    wide = await volunteers.post("/v1/teams", json=team_body(radius_km=50))
    assert wide.status_code == 422 and wide.json()["errors"][0]["field"] == "radius_km"
    for code in ("nowhere-01", "wuhan-jianghan"):  # no such community; a district is not a community
        ghost = await volunteers.post("/v1/teams", json=team_body(community=code))
        assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "community"
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    moved = await volunteers.patch(f"/v1/teams/{team['id']}", json={"location": {"lat": 30.50, "lon": 114.41}})
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "location"
    far_area = box(114.30, 30.40, 114.50, 30.60)
    stretched = await volunteers.patch(f"/v1/teams/{team['id']}", json={"area": far_area})
    assert stretched.status_code == 422 and stretched.json()["errors"][0]["field"] == "area"
    # A retired community takes no teams.
    retire = {k: v for k, v in community("c2", parent="wuhan-jianghan", boundary=CENTRAL).items() if k != "code"}
    assert (await volunteers.put("/v1/communities/c2", json={**retire, "status": "retired"})).status_code == 200
    retired = await volunteers.post("/v1/teams", json=team_body(community="c2"))
    assert retired.status_code == 422 and retired.json()["errors"][0]["field"] == "community"

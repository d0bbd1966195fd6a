"""CSV import (every row or none, with a per-row report) and export."""

from __future__ import annotations

from .conftest import register, registration_id
from .test_coordinators import bearer, coordinator

TEAMS = """name,community,lat,lon,radius_km,skills,capacity,leader_name,leader_phone,chat_url
East,c1,30.59,114.30,3,delivery medicine_purchase,4,Wang Wei,+8613900139000,
West,c1,30.58,114.25,2,delivery,2,Li Lei,+8613900139001,json://127.0.0.1/x
"""
MEMBERS = """community,team,name,phone,skills,duty,group,active
c1,East,Li,+8613500000001,delivery,delivery,A,true
c1,East,Zhao,+8613500000002,,police_liaison,B,true
c1,West,Sun,+8613500000003,delivery,sourcing,,false
"""
SHIFTS = """community,team,kind,weekday,start,end,starts_at,ends_at,group
c1,East,weekly,0,08:00,20:00,,,A
c1,East,weekly,0,20:00,08:00,,,B
c1,East,exception,,,,2025-03-10T00:00:00,2025-03-11T00:00:00,
"""


async def post_csv(client, kind: str, text: str, headers: dict | None = None):
    return await client.post(f"/v1/import/{kind}", content=text.encode(),
                             headers={"Content-Type": "text/csv", **(headers or {})})


async def test_import_and_export_round_trip(volunteers) -> None:
    for kind, text, count in (("teams", TEAMS, 2), ("members", MEMBERS, 3), ("shifts", SHIFTS, 3)):
        response = await post_csv(volunteers, kind, text)
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == count
    teams = {t["name"]: t for t in (await volunteers.get("/v1/teams", params={"community": "c1"})).json()}
    assert teams["East"]["skills"] == ["delivery", "medicine_purchase"]
    members = (await volunteers.get(f"/v1/teams/{teams['East']['id']}/members")).json()
    assert {(m["name"], m["group"], m["duty"]) for m in members} == {("Li", "A", "delivery"), ("Zhao", "B", "police_liaison")}
    schedule = (await volunteers.get(f"/v1/teams/{teams['East']['id']}/schedule")).json()
    assert len(schedule["weekly"]) == 2 and len(schedule["exceptions"]) == 1

    exported = await volunteers.get("/v1/export/members.csv", params={"community": "c1"})
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0] == "community,team,name,phone,skills,duty,group,active,locale"
    assert "c1,West,Sun,+8613500000003,delivery,sourcing,,false,zh-CN" in lines
    shifts_csv = (await volunteers.get("/v1/export/shifts.csv")).text
    assert "c1,East,weekly,0,08:00,20:00,,,A" in shifts_csv
    teams_csv = (await volunteers.get("/v1/export/teams.csv")).text
    assert "East,c1,30.59,114.3,3.0,delivery medicine_purchase,4,Wang Wei,+8613900139000" in teams_csv
    # A coordinator of another community sees none of them.
    other = bearer((await coordinator(volunteers, ["c-other"]))["token"])
    assert "+8613500000003" not in (await volunteers.get("/v1/export/members.csv", headers=other)).text


async def test_one_bad_row_and_nothing_is_imported(volunteers) -> None:
    assert (await post_csv(volunteers, "teams", TEAMS)).status_code == 200
    bad = MEMBERS + "c1,East,Qian,+8613500000001,,,,true\nc1,Nowhere,Wu,12345,flying,,,maybe\n"
    response = await post_csv(volunteers, "members", bad)
    assert response.status_code == 422
    errors = {(e["row"], e["field"]) for e in response.json()["row_errors"]}
    assert (5, "phone") in errors           # same phone as row 2
    assert {(6, "phone"), (6, "skills"), (6, "active")} <= errors
    teams = {t["name"]: t for t in (await volunteers.get("/v1/teams")).json()}
    assert (await volunteers.get(f"/v1/teams/{teams['East']['id']}/members")).json() == []  # nothing half-imported

    bad_teams = TEAMS.replace("30.59,114.30,3", "95,114.30,0") + "North,c1,30,114,1,,1,X,+861,\n"
    response = await post_csv(volunteers, "teams", bad_teams)
    assert response.status_code == 422
    errors = {(e["row"], e["field"]) for e in response.json()["row_errors"]}
    assert {(2, "lat"), (2, "radius_km"), (4, "skills"), (4, "leader_phone")} <= errors
    assert len((await volunteers.get("/v1/teams")).json()) == 2

    bad_shifts = "community,team,kind,weekday,start,end\nc1,East,weekly,9,25:00,08:00\nc1,East,yearly,,,\n"
    response = await post_csv(volunteers, "shifts", bad_shifts)
    errors = {(e["row"], e["field"]) for e in response.json()["row_errors"]}
    assert {(2, "weekday"), (2, "start"), (3, "kind")} <= errors


async def test_missing_columns_other_communities_and_unknown_teams(volunteers) -> None:
    response = await post_csv(volunteers, "members", "name,phone\nLi,+8613500000001\n")
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["row_errors"]} == {"community", "team"}
    assert (await post_csv(volunteers, "teams", TEAMS)).status_code == 200
    token = bearer((await coordinator(volunteers, ["c2"]))["token"])
    response = await post_csv(volunteers, "members", MEMBERS, token)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["row_errors"]} == {"community"}
    response = await post_csv(volunteers, "members", MEMBERS.replace("West", "Nowhere"))
    assert [(e["row"], e["field"]) for e in response.json()["row_errors"]] == [(4, "team")]
    assert (await post_csv(volunteers, "members", "")).status_code == 422


async def test_export_defuses_formulas(volunteers) -> None:
    formula = '=HYPERLINK("http://x","y")'
    created = await register(volunteers, {"name": formula, "phone": "+8613600000099", "community": "c1",
                                          "skills": ["delivery"]})
    assert created.status_code == 201, created.text
    created_id = await registration_id(volunteers, "+8613600000099")
    team = (await volunteers.post("/v1/teams", json={
        "name": "@SUM(1+1)", "community": "c1", "location": {"lat": 30.59, "lon": 114.30}, "radius_km": 2,
        "skills": ["delivery"], "capacity": 1, "leader": {"name": "-2+3", "phone": "+8613900139000"}})).json()
    approved = await volunteers.post(f"/v1/registrations/{created_id}/approve", json={"team_id": team["id"]})
    assert approved.status_code == 200, approved.text
    members_csv = (await volunteers.get("/v1/export/members.csv")).text
    assert "'=HYPERLINK" in members_csv and "\n=HYPERLINK" not in members_csv and ",=HYPERLINK" not in members_csv
    teams_csv = (await volunteers.get("/v1/export/teams.csv")).text
    assert teams_csv.splitlines()[1].startswith("'@SUM(1+1),") and ",'-2+3," in teams_csv

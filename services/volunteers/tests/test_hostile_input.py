"""Input schemathesis found to make volunteers answer 500 (tests/test_openapi_fuzz.py):
each is now a 422 naming what is wrong, and changes nothing."""

from __future__ import annotations

from .conftest import team_body

CSV = {"content-type": "text/csv"}


async def test_a_patch_may_not_null_a_required_part_of_a_team(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    for field in ("leader", "location", "name", "skills"):
        response = await volunteers.patch(f"/v1/teams/{team['id']}", json={"capacity": 10, field: None})
        assert response.status_code == 422, (field, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await volunteers.get(f"/v1/teams/{team['id']}")).json()["version"] == team["version"]


async def test_nul_characters_are_refused_in_bodies_paths_and_queries(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    for path, body, field in (
        ("/v1/coordinators", {"name": "Zhang", "communities": ["wuhan\x00"]}, "communities"),
        ("/v1/teams", team_body(name="Team\x00A"), "name"),
        (f"/v1/teams/{team['id']}/members", {"name": "Zhao\x00", "phone": "+8613700137000"}, "name"),
        ("/v1/communities", {"code": "x1", "level": "city", "name_zh": "市\x00", "name_en": "X"}, "name_zh"),
        ("/v1/teams", team_body(area={"type": "Polygon", "coordinates": [], "\x00": 1}), "area"),
    ):
        response = await volunteers.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert field in {e["field"].split(".")[-1] for e in response.json()["errors"]}, (path, response.json())
    for path, field in (("/v1/communities/wuhan%00", "code"), ("/v1/teams?community=a%00b", "community"),
                        ("/v1/leaderboard?community=%00", "community"), ("/checkin/a%00b", "key"),
                        ("/v1/export/teams.csv?community=%00", "community")):
        response = await volunteers.get(path)
        assert response.status_code == 422, (path, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], path


async def test_csv_imports_that_cannot_be_read_are_refused_not_failed(volunteers) -> None:
    for kind, body in (("members", "\U000166a9\x16\u00a5\u00db\r\u08aa\u00a4"), ("teams", "name\r\n\"a\rb"),
                       ("teams", "name,community\nx\x00,y\n"), ("communities", "code,level\r\"x\n" + "y" * 140_000),
                       ("shifts", "community,team,kind\n\"" + "x" * 140_000 + "\"\n")):
        response = await volunteers.post(f"/v1/import/{kind}", content=body.encode(), headers=CSV)
        assert response.status_code == 422, (kind, body[:40], response.text)


async def test_geojson_nested_past_the_parser_is_refused(volunteers) -> None:
    body = b'{"type": "FeatureCollection", "features": ' + b"[" * 200_000
    response = await volunteers.post("/v1/import/communities", content=body, headers=CSV)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"

"""The communities read model (communities.py, from volunteers' events), the
placing of requests by point in polygon, and the QR code of each community's form."""

from __future__ import annotations

from datetime import timedelta

import segno

from shared.http import issue_coordinator_token
from tests.support.bus import TestBus
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import TOKEN_SECRET, add_community, client_as, community_event


async def test_the_qr_code_points_at_the_communitys_form(intake) -> None:
    await add_community(intake)
    svg = await intake.get("/v1/communities/jianghan-01/qr", headers={"Authorization": ""})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    png = await intake.get("/v1/communities/jianghan-01/qr?format=png")
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    community = (await intake.get("/v1/communities/jianghan-01")).json()
    assert community["form_url"].endswith("/form/jianghan-01")
    expected = segno.make(community["form_url"], error="m")
    assert f'width="{(expected.symbol_size(scale=8, border=4))[0]}"'.encode() in svg.content
    assert (await intake.get("/v1/communities/nowhere-1/qr")).status_code == 404
    assert (await intake.get("/v1/communities/jianghan-01/qr?format=gif")).status_code == 422
    assert [c["code"] for c in (await intake.get("/v1/communities")).json()] == ["jianghan-01"]
    assert (await intake.get("/v1/communities/Bad Code")).status_code == 422
    # Volunteers owns communities: intake has no door that writes them.
    assert (await intake.put("/v1/communities/ok-code", json={"name": "x", "lat": 1, "lon": 1})).status_code == 405


async def test_communities_come_from_volunteers_events_newest_version_wins(intake, bus_env) -> None:
    async with TestBus(bus_env) as bus:
        await bus.publish(community_event("hongshan-07", 30.50, 114.35, "洪山七社区", version=2))
        await bus.settled("intake-communities")

        async def listed() -> list | None:
            found = (await intake.get("/v1/communities")).json()
            return found or None

        [community] = await eventually(listed, what="the community from the event")
        assert community["code"] == "hongshan-07" and community["name"]["zh-CN"] == "洪山七社区"
        # An older version arriving late changes nothing.
        await bus.publish(community_event("hongshan-07", 30.50, 114.35, "旧名字", version=1))
        await bus.settled("intake-communities")
        assert (await intake.get("/v1/communities/hongshan-07")).json()["name"]["zh-CN"] == "洪山七社区"
        # Retired: no form, no code to file under.
        await bus.publish(community_event("hongshan-07", 30.50, 114.35, "洪山七社区", version=3, status="retired"))
        await bus.settled("intake-communities")
    assert (await intake.get("/v1/communities/hongshan-07")).status_code == 404


async def test_a_request_without_a_community_is_placed_by_its_boundary(intake) -> None:
    await add_community(intake)
    await add_community(intake, "wuchang-07", 30.50, 114.40)
    inside = (await intake.post("/v1/requests", json=request_body(lat=30.505, lon=114.395))).json()
    assert inside["community"] == "wuchang-07"
    nowhere = (await intake.post("/v1/requests", json=request_body(lat=31.5, lon=115.0))).json()
    assert nowhere["community"] is None
    body = request_body()
    body["location"] = {"address": "1 Main St", "community": "not-a-place"}
    unknown = await intake.post("/v1/requests", json=body)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "location.community"


async def test_a_district_coordinator_sees_its_communities_and_no_other(intake) -> None:
    await add_community(intake, "jianghan", level="district")
    await add_community(intake, "jianghan-01", parent="jianghan")
    await add_community(intake, "hongshan-07", 30.50, 114.40)
    ours = (await intake.post("/v1/requests", json=request_body(lat=30.59, lon=114.30))).json()
    theirs = (await intake.post("/v1/requests", json=request_body(lat=30.50, lon=114.40))).json()
    district, _ = issue_coordinator_token(TOKEN_SECRET, subject="coord-d", communities=["jianghan"],
                                          ttl=timedelta(hours=1))
    other, _ = issue_coordinator_token(TOKEN_SECRET, subject="coord-h", communities=["hongshan-07"],
                                       ttl=timedelta(hours=1))
    async with client_as(intake, district) as coordinator:
        assert [r["id"] for r in (await coordinator.get("/v1/requests")).json()] == [ours["id"]]
        assert (await coordinator.get(f"/v1/requests/{ours['id']}")).status_code == 200
        assert (await coordinator.get(f"/v1/requests/{theirs['id']}")).status_code == 404
        # Filing a request in another coordinator's community is refused.
        elsewhere = await coordinator.post("/v1/requests", json=request_body(lat=30.50, lon=114.40))
        assert elsewhere.status_code == 422 and elsewhere.json()["errors"][0]["field"] == "location.community"
    async with client_as(intake, other) as coordinator:
        assert [r["id"] for r in (await coordinator.get("/v1/requests")).json()] == [theirs["id"]]
        assert (await coordinator.get(f"/v1/requests/{ours['id']}")).status_code == 404
        assert (await coordinator.post(f"/v1/requests/{ours['id']}/cancel")).status_code == 404
        assert (await coordinator.post(f"/v1/requests/{ours['id']}/feedback", json={"rating": 5})).status_code == 404
        assert (await coordinator.get("/v1/webhook/deliveries")).status_code == 403

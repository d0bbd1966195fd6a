"""The community catalogue (communities.py) and the QR code of each community's form."""

from __future__ import annotations

import segno

from .test_submissions import add_community


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
    bad = await intake.put("/v1/communities/Bad Code", json={"name": "x", "lat": 1, "lon": 1})
    assert bad.status_code == 422
    bad = await intake.put("/v1/communities/ok-code", json={"name": "x", "lat": 100, "lon": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lat"

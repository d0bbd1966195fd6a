"""The hotline desk's endpoint, the residents' QR form and its QR code."""

from __future__ import annotations

import re
from html import unescape

import segno

from tests.support.bus import TestBus

CALL = {
    "operator_id": "desk-7",
    "call_at": "2024-01-05T21:40:00+08:00",
    "category": "daily_necessities",
    "description": "老人独居，家中缺米和油",
    "location": {"address": "5栋2单元301", "community": "jianghan-01"},
    "caller": {"name": "王奶奶", "phone": "+8613912345678"},
    "vulnerabilities": ["elderly_alone", "no_smartphone"],
    "notes": "Caller hard of hearing; call back slowly.",
}


async def _community(client, code: str = "jianghan-01") -> None:
    r = await client.put(f"/v1/communities/{code}", json={"name": "江汉一社区", "lat": 30.59, "lon": 114.30})
    assert r.status_code == 200, r.text


async def test_an_operator_files_a_call_for_a_caller_without_a_smartphone(intake, bus_env) -> None:
    await _community(intake)
    filed = await intake.post("/v1/hotline/calls", json=CALL, headers={"Idempotency-Key": "call-1"})
    assert filed.status_code == 202, filed.text
    view = filed.json()
    assert view["source"] == "hotline"
    assert view["hotline"] == {"operator_id": "desk-7", "call_at": "2024-01-05T13:40:00Z",
                               "notes": "Caller hard of hearing; call back slowly."}
    again = await intake.post("/v1/hotline/calls", json=CALL, headers={"Idempotency-Key": "call-1"})
    assert again.json()["id"] == view["id"]
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["request_id"] == view["id"])
    data = event["data"]
    assert (data["source"], data["community"]) == ("hotline", "jianghan-01")
    assert data["requester"]["preferred_channel"] == "phone_call"  # no smartphone: call back
    assert "hard of hearing" not in str(data)  # the desk's notes stay in intake


async def test_a_call_with_bad_input_names_the_field(intake) -> None:
    cases = {
        "operator_id": {"operator_id": ""},
        "call_at": {"call_at": "2024-01-05T21:40:00"},  # no offset
        "caller.phone": {"caller": {"name": "王", "phone": "12345"}},
        "location.community": {"location": {"address": "x", "community": "unknown-1"}},
        "notes": {"notes": "x" * 4001},
    }
    await _community(intake)
    for field, change in cases.items():
        response = await intake.post("/v1/hotline/calls", json={**CALL, **change})
        assert response.status_code == 422, field
        assert field in {e["field"] for e in response.json()["errors"]}, (field, response.json())


def _token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def _resident_form(token: str, **changes) -> dict:
    form = {"lang": "zh-CN", "form_token": token, "category": "medicine",
            "description": "需要降压药", "address": "3栋601", "name": "李娜",
            "phone": "138 0013 8000", "people": "2", "urgency": "high", "preferred_channel": "sms",
            "vulnerabilities": ["elderly_alone"]}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def test_a_resident_fills_the_form_and_gets_a_reference(intake, bus_env) -> None:
    await _community(intake)
    page = await intake.get("/form/jianghan-01", headers={"Authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "求助登记" in page.text and "江汉一社区" in page.text
    assert 'name="viewport"' in page.text
    token = _token(page.text)
    sent = await intake.post("/form/jianghan-01", data=_resident_form(token), headers={"Authorization": ""})
    assert sent.status_code == 201, sent.text
    reference = re.search(r'id="reference">([A-Z0-9]+)<', sent.text).group(1)
    # Tapping "send" twice gives the same reference, not a second request.
    again = await intake.post("/form/jianghan-01", data=_resident_form(token), headers={"Authorization": ""})
    assert re.search(r'id="reference">([A-Z0-9]+)<', again.text).group(1) == reference

    [stored] = (await intake.get("/v1/requests")).json()
    assert (stored["reference"], stored["source"], stored["community"]) == (reference, "qr", "jianghan-01")
    assert (stored["people"], stored["urgency"]) == (2, "high")
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["reference"] == reference)
    assert event["data"]["requester"]["phone"] == "+8613800138000"
    assert event["data"]["requester"]["locale"] == "zh-CN"


async def test_the_form_speaks_english_and_shows_errors_beside_the_fields(intake) -> None:
    await _community(intake)
    page = await intake.get("/form/jianghan-01?lang=en", headers={"Authorization": ""})
    assert "Ask for help" in page.text
    token = _token(page.text)
    bad = _resident_form(token, lang="en", phone="12345", description="", people="0",
                         name="<script>alert(1)</script>")
    response = await intake.post("/form/jianghan-01", data=bad, headers={"Authorization": ""})
    assert response.status_code == 422
    html = response.text
    for field in ("phone", "description", "people"):
        assert f'id="{field}-error"' in html, field
    assert 'id="name-error"' not in html and 'id="address-error"' not in html
    assert "Give a valid mobile number" in html
    # What the resident typed is kept, and escaped.
    assert "<script>alert(1)</script>" not in html
    assert unescape("&lt;script&gt;alert(1)&lt;/script&gt;") in unescape(html)
    assert 'value="3栋601"' in html
    assert (await intake.get("/v1/requests")).json() == []

    zh = await intake.post("/form/jianghan-01", data=_resident_form(token, phone="1"),
                           headers={"Authorization": ""})
    assert "请填写有效的手机号码" in zh.text
    no_token = await intake.post("/form/jianghan-01", data=_resident_form(None), headers={"Authorization": ""})
    assert no_token.status_code == 422 and "表单已过期" in no_token.text


async def test_an_unknown_community_has_no_form(intake) -> None:
    assert (await intake.get("/form/nowhere-1", headers={"Authorization": ""})).status_code == 404
    posted = await intake.post("/form/nowhere-1", data=_resident_form("t" * 16), headers={"Authorization": ""})
    assert posted.status_code == 404


async def test_the_qr_code_points_at_the_communitys_form(intake) -> None:
    await _community(intake)
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

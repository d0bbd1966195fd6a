"""The residents' QR form (forms.py): a reference for a filled form, errors
beside the fields in either language, national mobile numbers."""

from __future__ import annotations

import re
from html import unescape

import pytest

from shared.phones import parse_phone
from shared.public_doors import solve
from tests.support.bus import TestBus

from .conftest import POW_BITS, add_community


def _token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def _resident_form(token: str | None, **changes) -> dict:
    form = {"lang": "zh-CN", "form_token": token, "pow": solve(token, POW_BITS) if token else None,
            "category": "medicine",
            "description": "需要降压药", "address": "3栋601", "name": "李娜",
            "phone": "138 0013 8000", "people": "2", "urgency": "high", "preferred_channel": "sms",
            "vulnerabilities": ["elderly_alone"]}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def test_a_resident_fills_the_form_and_gets_a_reference(intake, bus_env) -> None:
    await add_community(intake)
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
    await add_community(intake)
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


def test_a_community_form_takes_national_mainland_numbers() -> None:
    # As the form reads its phone field; partners get the strict default.
    assert parse_phone("138 0013 8000", national_region="CN") == "+8613800138000"
    assert parse_phone("+85291234567", national_region="CN") == "+85291234567"
    with pytest.raises(ValueError):
        parse_phone("1380013800", national_region="CN")
    with pytest.raises(ValueError):
        parse_phone("13800138000")  # partners send international form

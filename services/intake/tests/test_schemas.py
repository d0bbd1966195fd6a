"""The partner contract's rules (schemas.py): phone numbers in E.164, strictly."""

from __future__ import annotations

import pytest

from services.intake.schemas import RequesterIn
from tests.support.system import request_body


@pytest.mark.parametrize("raw, expected", [
    ("+8613800138000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("+86-186-1234-5678", "+8618612345678"),
    ("+85291234567", "+85291234567"),
])
def test_valid_numbers_come_out_as_e164(raw, expected) -> None:
    assert RequesterIn(name="Li Na", phone=raw).phone == expected


@pytest.mark.parametrize("raw", ["13800138000", "+86138001380", "+8600000000000", "+", "+abc", ""])
def test_invalid_numbers_say_why(raw) -> None:
    with pytest.raises(ValueError):
        RequesterIn(name="Li Na", phone=raw)


async def test_mainland_mobiles_validate_and_malformed_numbers_do_not(intake) -> None:
    for phone in ("+8613800138000", "+8618612345678", "+85291234567", "+447911123456"):
        body = request_body(phone=phone)
        assert (await intake.post("/v1/requests", json=body)).status_code == 202, phone
    for phone in ("13800138000", "+861380013800", "+8600000000000", "+86abc", "++8613800138000"):
        response = await intake.post("/v1/requests", json=request_body(phone=phone))
        assert response.status_code == 422, phone
        assert response.json()["errors"][0]["field"] == "requester.phone"

"""Submissions (submissions.py): every door's request stored once, never two
out of one (Idempotency-Key, repeated external ids, a partner's retry racing
its own first call), the hotline desk's calls, and the answer written with
the duplicate the statement finds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake import submission_store, submissions
from services.intake.schemas import HotlineOut, RequestOut, StatusChangeOut
from tests.support.bus import TestBus
from tests.support.system import request_body

from .conftest import add_community, new_partner

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


def _rich_body(**changes) -> dict:
    body = request_body(external_id="rich-1")
    body["location"] = {"address": "3-2-601, 12 Minzhu Rd", "community": "jianghan-01"}
    body["requester"]["preferred_channel"] = "phone_call"
    body.update(vulnerabilities=["elderly_alone", "no_smartphone"], people=2, source="outreach")
    body.update(changes)
    return body


async def test_the_same_key_and_body_answers_the_first_response(intake) -> None:
    body = request_body()
    first = await intake.post("/v1/requests", json=body, headers={"Idempotency-Key": "k-1"})
    again = await intake.post("/v1/requests", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len((await intake.get("/v1/requests")).json()) == 1


async def test_the_same_key_with_another_body_is_refused(intake) -> None:
    await intake.post("/v1/requests", json=request_body(), headers={"Idempotency-Key": "k-2"})
    other = request_body()
    other["urgency"] = "low"
    refused = await intake.post("/v1/requests", json=other, headers={"Idempotency-Key": "k-2"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "Idempotency-Key", "reason": "was used before with a different body"}]
    assert len((await intake.get("/v1/requests")).json()) == 1


async def test_keys_belong_to_one_partner(intake) -> None:
    _, alpha = await new_partner(intake, "Alpha")
    _, beta = await new_partner(intake, "Beta")
    async with alpha, beta:
        a = await alpha.post("/v1/requests", json=request_body(), headers={"Idempotency-Key": "same"})
        b = await beta.post("/v1/requests", json=request_body(), headers={"Idempotency-Key": "same"})
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] != b.json()["id"]


async def test_an_empty_or_overlong_key_is_a_problem(intake) -> None:
    for key in ("", "k" * 201):
        response = await intake.post("/v1/requests", json=request_body(), headers={"Idempotency-Key": key})
        assert response.status_code == 422, key
        assert "Idempotency-Key" in response.json()["errors"][0]["field"]


async def test_a_repeated_external_id_is_the_same_request(intake) -> None:
    first = await intake.post("/v1/requests", json=request_body(external_id="ext-1"))
    again = await intake.post("/v1/requests", json=request_body(external_id="ext-1"))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]


async def test_a_key_whose_first_call_stopped_halfway_answers_what_that_call_would_have(
        intake, monkeypatch) -> None:
    """On PostgreSQL the key is claimed (with a 202 answer) by the statement
    that finds the external id taken; the answer is rewritten by a second
    statement.  A process that dies between the two must not leave the key
    answering 202 for a request that was never stored."""
    first = await intake.post("/v1/requests", json=request_body(external_id="ext-halfway"))
    assert first.status_code == 202

    async def dies(*_args, **_kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(submission_store, "finish_idempotency_key", dies)
    body = request_body(external_id="ext-halfway")
    with_key = {"Idempotency-Key": "halfway"}
    with pytest.raises(RuntimeError, match="died"):  # in-process ASGI hands the app's crash to the caller
        await intake.post("/v1/requests", json=body, headers=with_key)
    monkeypatch.undo()
    for _ in range(2):
        again = await intake.post("/v1/requests", json=body, headers=with_key)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
    assert len((await intake.get("/v1/requests")).json()) == 1


async def test_a_partner_retrying_after_a_timeout_creates_no_duplicate(intake, bus_env) -> None:
    """The partner's first call is still in flight (it timed out on their side)
    when the retry arrives: both race; one request, one event."""
    _, partner = await new_partner(intake)
    async with partner:
        for headers, body in (({"Idempotency-Key": "retry-1"}, request_body()),
                              ({}, request_body(external_id="retry-2"))):
            answers = await asyncio.gather(*(partner.post("/v1/requests", json=body, headers=headers)
                                             for _ in range(5)))
            assert {a.status_code for a in answers} <= {200, 202, 409}
            assert sum(a.status_code == 202 for a in answers) >= 1
            ids = {a.json()["id"] for a in answers if a.status_code in (200, 202)}
            assert len(ids) == 1
        stored = (await partner.get("/v1/requests")).json()
        assert len(stored) == 2
    async with TestBus(bus_env) as bus:
        await bus.wait_for("aid.request.received.v1",
                           lambda e: e["data"]["request_id"] == stored[0]["id"])
        events = await bus.published("aid.request.received.v1")
    assert sorted(e["data"]["request_id"] for e in events) == sorted(r["id"] for r in stored)


async def test_an_operator_files_a_call_for_a_caller_without_a_smartphone(intake, bus_env) -> None:
    await add_community(intake)
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
    await add_community(intake)
    for field, change in cases.items():
        response = await intake.post("/v1/hotline/calls", json={**CALL, **change})
        assert response.status_code == 422, field
        assert field in {e["field"] for e in response.json()["errors"]}, (field, response.json())


async def test_the_richer_body_reaches_the_event_and_an_address_resolves_through_the_community(
        intake, bus_env) -> None:
    await add_community(intake, lat=30.5901, lon=114.3012)
    body = _rich_body()
    body["requester"]["phone"] = "+86 138-0013-8000"  # spaces and dashes are normalised
    accepted = await intake.post("/v1/requests", json=body)
    assert accepted.status_code == 202, accepted.text
    view = accepted.json()
    assert (view["community"], view["people"], view["source"]) == ("jianghan-01", 2, "outreach")
    assert view["vulnerabilities"] == ["elderly_alone", "no_smartphone"]
    assert "13800138000" not in accepted.text and "Li Na" not in accepted.text
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1",
                                   lambda e: e["data"]["request_id"] == view["id"])
    data = event["data"]
    assert data["location"] == {"lat": 30.5901, "lon": 114.3012}
    assert data["community"] == "jianghan-01"
    assert data["vulnerabilities"] == ["elderly_alone", "no_smartphone"]
    assert (data["people"], data["source"]) == (2, "outreach")
    assert data["requester"]["phone"] == "+8613800138000"
    assert data["requester"]["preferred_channel"] == "phone_call"


async def test_no_smartphone_means_a_call_back_unless_the_requester_chose(intake, bus_env) -> None:
    body = request_body(external_id="ns-1")
    body["vulnerabilities"] = ["no_smartphone"]
    first = (await intake.post("/v1/requests", json=body)).json()
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["request_id"] == first["id"])
    assert event["data"]["requester"]["preferred_channel"] == "phone_call"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


_AT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                   timezones=st.just(UTC))


@given(
    at=_AT, call_at=_AT, external_id=st.none() | _TEXT, community=st.none() | _TEXT,
    vulnerabilities=st.lists(st.sampled_from(["elderly_alone", "disabled", "isolated", "no_smartphone"]),
                             unique=True),
    duplicate_of=st.none() | st.uuids().map(str), operator=st.none() | _TEXT.filter(bool),
    notes=st.none() | _TEXT, people=st.integers(1, 1000), needs_volunteer=st.booleans(),
)
def test_a_new_requests_answer_is_what_request_out_would_write(
    at, call_at, external_id, community, vulnerabilities, duplicate_of, operator, notes, people,
    needs_volunteer,
) -> None:
    # The statement fills in the duplicate it finds between the two halves;
    # the whole must be byte for byte the model's.
    values = dict(
        id=str(uuid.uuid4()), reference="ABCD2345", category="medicine", urgency="high",
        source="hotline", community=community, people=people, vulnerabilities=",".join(vulnerabilities),
        external_id=external_id, duplicate_of=duplicate_of, received_at=at, operator_id=operator,
        call_at=call_at if operator else None, operator_notes=notes if operator else None,
    )
    model = RequestOut(
        id=values["id"], reference="ABCD2345", status="received", category="medicine",
        needs_volunteer=needs_volunteer, urgency="high", source="hotline", community=community,
        people=people, vulnerabilities=vulnerabilities, external_id=external_id,
        possible_duplicate_of=duplicate_of, received_at=at, updated_at=at,
        history=[StatusChangeOut(status="received", at=at)],
        hotline=HotlineOut(operator_id=operator, call_at=call_at, notes=notes) if operator else None,
    )
    head, tail = submissions.answer_halves(values, needs_volunteer)
    assert head + (f'"{duplicate_of}"' if duplicate_of else "null") + tail == model.model_dump_json()

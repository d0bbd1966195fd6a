"""Never two out of one: Idempotency-Key, repeated external ids, a partner's
retry racing its own first call, and likely duplicates across channels."""

from __future__ import annotations

import asyncio

import pytest

from services.intake import duplicates
from tests.support.bus import TestBus
from tests.support.system import request_body

from .conftest import new_partner


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
    from services.intake import store

    first = await intake.post("/v1/requests", json=request_body(external_id="ext-halfway"))
    assert first.status_code == 202

    async def dies(*_args, **_kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(store, "finish_idempotency_key", dies)
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


async def test_a_likely_duplicate_from_another_channel_is_linked_not_merged(intake, bus_env) -> None:
    first = (await intake.post("/v1/requests", json=request_body(external_id="app-1"))).json()
    hotline = {
        "operator_id": "desk-3", "call_at": "2024-01-05T09:30:00+08:00", "category": "medicine",
        "description": "Caller needs insulin", "location": {"lat": 30.5952, "lon": 114.3004},
        "caller": {"name": "Li Na", "phone": "+86 138 0013 8000"},
    }
    second = await intake.post("/v1/hotline/calls", json=hotline)
    assert second.status_code == 202, second.text
    assert second.json()["id"] != first["id"]
    assert second.json()["possible_duplicate_of"] == first["id"]
    assert second.json()["source"] == "hotline"
    # Another category, far away, or another phone: not a duplicate.
    for change in (dict(category="daily_necessities"), dict(lat=30.70), dict(phone="+8613900139000")):
        other = (await intake.post("/v1/requests", json=request_body(**change))).json()
        assert other["possible_duplicate_of"] is None, change
    # A cancelled request is no longer something to repeat.
    await intake.post(f"/v1/requests/{first['id']}/cancel")
    await intake.post(f"/v1/requests/{second.json()['id']}/cancel")
    fresh = (await intake.post("/v1/requests", json=request_body())).json()
    assert fresh["possible_duplicate_of"] is None
    async with TestBus(bus_env) as bus:  # both went to dispatch: linking drops nothing
        await bus.wait_for("aid.request.received.v1",
                           lambda e: e["data"]["request_id"] == second.json()["id"])


async def test_a_repeat_of_a_repeat_links_to_the_first_and_its_replay_says_so(intake) -> None:
    first = (await intake.post("/v1/requests", json=request_body(phone="+8613700137000"))).json()
    key = {"Idempotency-Key": "repeat-1"}
    body = request_body(phone="+8613700137000", lat=30.5951)
    second = await intake.post("/v1/requests", json=body, headers=key)
    assert second.json()["possible_duplicate_of"] == first["id"]
    replay = await intake.post("/v1/requests", json=body, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == second.json()
    stored = (await intake.get(f"/v1/requests/{second.json()['id']}")).json()
    assert stored["possible_duplicate_of"] == first["id"]
    third = (await intake.post("/v1/requests", json=request_body(phone="+8613700137000", lat=30.5952))).json()
    assert third["possible_duplicate_of"] == first["id"]  # the chain's first, not the previous repeat


async def test_the_radius_is_the_same_to_the_last_bit_as_duplicates_distance_m(intake) -> None:
    # The farthest latitude still within 500 m by duplicates.distance_m, and the next float.
    lat, lon, radius = 30.5950, 114.3000, 500.0
    inside, outside = lat, lat + 0.01
    for _ in range(200):
        middle = (inside + outside) / 2
        if middle in (inside, outside):
            break
        inside, outside = (middle, outside) if duplicates.distance_m(lat, lon, middle, lon) <= radius \
            else (inside, middle)
    assert duplicates.distance_m(lat, lon, inside, lon) <= radius < duplicates.distance_m(lat, lon, outside, lon)
    for phone, there, linked in (("+8613600136001", inside, True), ("+8613600136002", outside, False)):
        origin = (await intake.post("/v1/requests", json=request_body(phone=phone, lat=lat, lon=lon))).json()
        near = (await intake.post("/v1/requests", json=request_body(phone=phone, lat=there, lon=lon))).json()
        assert near["possible_duplicate_of"] == (origin["id"] if linked else None), there

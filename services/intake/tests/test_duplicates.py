"""Likely duplicates (duplicates.py, and its twin in SQL in submission_store):
the same need through another channel is linked to the first, never merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake import duplicates
from services.intake.submission_store import DISTANCE_M_SQL
from shared.geo import distance_m
from tests.support.bus import TestBus
from tests.support.system import request_body

T0 = datetime(2024, 1, 5, 9, tzinfo=UTC)


def test_a_nearby_earlier_request_is_the_likely_original() -> None:
    earlier = [
        duplicates.Earlier("far", 30.70, 114.30, T0, None),
        duplicates.Earlier("near", 30.5952, 114.3003, T0 + timedelta(minutes=5), None),
    ]
    assert duplicates.likely_original(earlier, 30.5950, 114.3000, 500) == "near"
    assert duplicates.likely_original(earlier[:1], 30.5950, 114.3000, 500) is None


def test_a_chain_of_repeats_links_to_its_first_request() -> None:
    earlier = [
        duplicates.Earlier("repeat", 30.595, 114.300, T0, "first"),
        duplicates.Earlier("later", 30.595, 114.300, T0 + timedelta(hours=1), "first"),
    ]
    assert duplicates.likely_original(earlier, 30.595, 114.300, 500) == "first"


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(-80, 80), st.floats(-179, 179))
def test_distance_is_symmetric_and_not_negative(lat1, lon1, lat2, lon2) -> None:
    d = distance_m(lat1, lon1, lat2, lon2)
    assert d >= 0
    assert d == pytest.approx(distance_m(lat2, lon2, lat1, lon1), abs=1e-6)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert distance_m(30, 114, 31, 114) == pytest.approx(111_195, rel=1e-3)


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
    # The farthest latitude still within 500 m by distance_m, and the next float.
    lat, lon, radius = 30.5950, 114.3000, 500.0
    inside, outside = lat, lat + 0.01
    for _ in range(200):
        middle = (inside + outside) / 2
        if middle in (inside, outside):
            break
        inside, outside = (middle, outside) if distance_m(lat, lon, middle, lon) <= radius \
            else (inside, middle)
    assert distance_m(lat, lon, inside, lon) <= radius < distance_m(lat, lon, outside, lon)
    for phone, there, linked in (("+8613600136001", inside, True), ("+8613600136002", outside, False)):
        origin = (await intake.post("/v1/requests", json=request_body(phone=phone, lat=lat, lon=lon))).json()
        near = (await intake.post("/v1/requests", json=request_body(phone=phone, lat=there, lon=lon))).json()
        assert near["possible_duplicate_of"] == (origin["id"] if linked else None), there


async def test_postgresql_measures_the_same_metres_as_shared_geo(make_database) -> None:
    """The probe in SQL (submission_store.DISTANCE_M_SQL) and shared.geo.distance_m,
    which SQLite's probe and every other service use, agree on each distance."""
    engine = create_async_engine(await make_database("intake"))
    pairs = [(30.5950, 114.3000, 30.5952, 114.3004), (30.5950, 114.3000, 30.70, 114.30),
             (0.0, 0.0, 0.0, 1.0), (-33.8688, 151.2093, 51.5074, -0.1278), (45.0, 10.0, 45.0000001, 10.0),
             (10.0, 20.0, 10.0, 20.0), (89.9, 0.0, -89.9, 179.9)]
    probe = text(f"SELECT {DISTANCE_M_SQL} FROM (SELECT CAST(:earlier_lat AS double precision) AS lat, "
                 "CAST(:earlier_lon AS double precision) AS lon) AS earlier")
    try:
        async with engine.connect() as connection:
            for lat, lon, earlier_lat, earlier_lon in pairs:
                metres = (await connection.execute(probe, {"lat": lat, "lon": lon, "earlier_lat": earlier_lat,
                                                           "earlier_lon": earlier_lon})).scalar_one()
                assert metres == pytest.approx(distance_m(lat, lon, earlier_lat, earlier_lon), abs=1e-6), \
                    (lat, lon, earlier_lat, earlier_lon)
    finally:
        await engine.dispose()

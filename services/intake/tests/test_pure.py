"""Fast tests of intake's pure modules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake import duplicates, service, webhooks
from services.intake.phones import normalise_e164
from services.intake.ratelimit import TokenBuckets
from services.intake.schemas import HotlineOut, RequestOut, StatusChangeOut


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # another partner, another bucket
    clock.now = 0.5
    assert buckets.take("a") == 0.0
    clock.now = 100
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst


@given(st.lists(st.floats(min_value=0, max_value=5), max_size=60))
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_time(gaps) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=1.5, burst=4, clock=clock)
    allowed = 0
    for gap in gaps:
        clock.now += gap
        allowed += buckets.take("p") == 0.0
    assert allowed <= 4 + 1.5 * clock.now + 1e-9


def test_buckets_forget_full_ones_when_there_are_too_many() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=1, burst=1, clock=clock, max_keys=3)
    for key in "abc":
        buckets.take(key)
    clock.now = 10
    buckets.take("d")
    assert len(buckets._buckets) == 1


@pytest.mark.parametrize("raw, expected", [
    ("+8613800138000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("+86-186-1234-5678", "+8618612345678"),
    ("+85291234567", "+85291234567"),
])
def test_valid_numbers_come_out_as_e164(raw, expected) -> None:
    assert normalise_e164(raw) == expected


@pytest.mark.parametrize("raw", ["13800138000", "+86138001380", "+8600000000000", "+", "+abc", ""])
def test_invalid_numbers_say_why(raw) -> None:
    with pytest.raises(ValueError):
        normalise_e164(raw)


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
    d = duplicates.distance_m(lat1, lon1, lat2, lon2)
    assert d >= 0
    assert d == pytest.approx(duplicates.distance_m(lat2, lon2, lat1, lon1), abs=1e-6)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert duplicates.distance_m(30, 114, 31, 114) == pytest.approx(111_195, rel=1e-3)


def test_a_signature_verifies_only_with_the_same_secret_body_and_a_fresh_time() -> None:
    body = webhooks.body({"status": "assigned", "request_id": "r"})
    header = webhooks.signature("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert webhooks.verify("s3cret", header, body, now=1_700_000_010)
    assert not webhooks.verify("other", header, body, now=1_700_000_010)
    assert not webhooks.verify("s3cret", header, body + b" ", now=1_700_000_010)
    assert not webhooks.verify("s3cret", header, body, now=1_700_001_000)
    assert not webhooks.verify("s3cret", "garbage", body, now=1_700_000_000)


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    gaps = [(webhooks.next_attempt(n, T0, 2, 60) - T0).total_seconds() for n in range(1, 8)]
    assert gaps == [2, 4, 8, 16, 32, 60, 60]


def test_a_community_form_takes_national_mainland_numbers() -> None:
    assert normalise_e164("138 0013 8000", default_region="CN") == "+8613800138000"
    assert normalise_e164("+85291234567", default_region="CN") == "+85291234567"
    with pytest.raises(ValueError):
        normalise_e164("1380013800", default_region="CN")
    with pytest.raises(ValueError):
        normalise_e164("13800138000")  # partners send international form


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
    # The hot path writes the answer directly; it must be byte for byte the model's.
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
    assert service._new_request_json(values, needs_volunteer) == model.model_dump_json()


def test_the_submission_doors_are_documented_as_if_fastapi_had_read_them() -> None:
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    document = create_app(IntakeSettings(admin_token="t")).openapi()
    for path, model in (("/v1/requests", "RequestIn"), ("/v1/hotline/calls", "HotlineCallIn")):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"}
        assert operation["security"] == [{"HTTPBearer": []}]
        assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("Idempotency-Key", "header")]
    schemas = document["components"]["schemas"]
    assert "requester" in schemas["RequestIn"]["properties"]

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    dangling = {ref for ref in refs(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert not dangling

"""Open311 GeoReport v2 against the examples of the specification
(https://wiki.open311.org/GeoReport_v2), in JSON and XML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from tests.support.bus import TestBus

from .conftest import add_community, new_partner

# The spec's POST example, field for field; only service_code and phone are
# Heartline's (the example's "001" and "111111111" are not valid here).
SPEC_POST = {
    "jurisdiction_id": "city.gov", "service_code": "daily_necessities",
    "lat": "37.76524078", "long": "-122.4212043", "address_string": "123 Fake St",
    "email": "smit333@sfgov.edu", "device_id": "tt222111", "account_id": "123456",
    "first_name": "john", "last_name": "smith", "phone": "+8613800138000",
    "description": "ditch light is broken",
    "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
}


async def _key(intake) -> tuple[str, object]:
    _, partner = await new_partner(intake, "311 app")
    return partner.headers["Authorization"].removeprefix("Bearer "), partner


async def test_the_service_list_and_a_definition_in_both_formats(intake) -> None:
    services = await intake.get("/open311/v2/services.json")
    assert services.status_code == 200
    assert services.headers["content-type"].startswith("application/json")
    first = services.json()[0]
    assert set(first) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert {s["service_code"] for s in services.json()} >= {"daily_necessities", "policy_question"}
    assert first["type"] == "realtime" and first["metadata"] is True

    xml = await intake.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    assert xml.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "services"
    assert root[0].tag == "service" and root[0].findtext("metadata") == "true"
    assert [s.findtext("service_code") for s in root] == [s["service_code"] for s in services.json()]

    definition = (await intake.get("/open311/v2/services/medicine.json")).json()
    assert definition["service_code"] == "medicine"
    urgency = next(a for a in definition["attributes"] if a["code"] == "urgency")
    assert set(urgency) == {"variable", "code", "datatype", "required", "datatype_description",
                            "order", "description", "values"}
    assert {"key": "high", "name": "High"} in urgency["values"]
    root = ElementTree.fromstring((await intake.get("/open311/v2/services/medicine.xml")).content)
    assert root.tag == "service_definition"
    assert root.find("attributes/attribute/code") is not None
    assert root.find("attributes/attribute[code='urgency']/values/value/key").text == "low"

    missing = await intake.get("/open311/v2/services/potholes.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code potholes not found"}]


async def test_posting_the_specs_example_creates_a_request(intake, bus_env) -> None:
    key, partner = await _key(intake)
    async with partner:
        created = await intake.post("/open311/v2/requests.json", data={**SPEC_POST, "api_key": key})
        assert created.status_code == 201, created.text
        [answer] = created.json()
        assert set(answer) == {"service_request_id", "service_notice", "account_id"}
        request_id = answer["service_request_id"]
        view = (await partner.get(f"/v1/requests/{request_id}")).json()  # the partner's own
        assert view["category"] == "daily_necessities"
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["request_id"] == request_id)
    assert event["data"]["requester"]["name"] == "john smith"
    assert event["data"]["location"] == {"lat": 37.76524078, "lon": -122.4212043}

    xml = await intake.post("/open311/v2/requests.xml", data={
        **SPEC_POST, "api_key": key, "attribute[urgency]": "high", "attribute[people]": "3",
        "attribute[vulnerabilities][]": ["elderly_alone", "no_smartphone"]})
    assert xml.status_code == 201
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text
    assert root.find("request/account_id").text is None


async def test_an_address_with_a_community_code_places_the_request(intake) -> None:
    key, partner = await _key(intake)
    async with partner:
        await add_community(intake)
        form = {k: v for k, v in SPEC_POST.items() if k not in ("lat", "long")}
        created = await intake.post("/open311/v2/requests.json", data={
            **form, "api_key": key, "attribute[community]": "jianghan-01"})
        assert created.status_code == 201, created.text
        unknown = await intake.post("/open311/v2/requests.json", data={
            **form, "api_key": key, "attribute[community]": "nowhere-1"})
        assert unknown.status_code == 400
        assert unknown.json() == [{"code": 400, "description":
                                   "attribute[community]: is not in the community catalogue"}]


BAD_FORMS = [
    ({"api_key": None}, 401, "api_key: required"),  # the route table: partners only
    ({"api_key": "hlk_not-a-key"}, 403, "api_key: not valid"),
    ({"service_code": "001"}, 400, "service_code:"),
    ({"service_code": None}, 400, "service_code: required"),
    ({"phone": "111111111"}, 400, "phone: "),
    ({"phone": None}, 400, "phone: required"),
    ({"lat": "north"}, 400, "lat: is not a number"),
    ({"lat": "91"}, 400, "lat: "),
    ({"lat": None, "long": None}, 400, "lat: "),
    ({"description": None}, 400, "description: required"),
    ({"first_name": None, "last_name": None}, 400, "first_name: required"),
    ({"attribute[urgency]": "whenever"}, 400, "attribute[urgency]: "),
    ({"attribute[people]": "many"}, 400, "attribute[people]: "),
]


async def test_a_bad_form_gets_the_specs_error_format(intake) -> None:
    key, partner = await _key(intake)
    await partner.aclose()
    for (change, status, description), fmt in ((case, fmt) for case in BAD_FORMS for fmt in ("json", "xml")):
        form = {**SPEC_POST, "api_key": key, **change}
        form = {k: v for k, v in form.items() if v is not None}
        response = await intake.post(f"/open311/v2/requests.{fmt}", data=form)
        assert response.status_code == status, (change, fmt, response.text)
        if fmt == "json":
            errors = response.json()
            assert all(set(e) == {"code", "description"} and e["code"] == status for e in errors)
            assert any(e["description"].startswith(description) for e in errors), (change, errors)
        else:
            root = ElementTree.fromstring(response.content)
            assert root.tag == "errors" and root[0].tag == "error"
            assert root[0].findtext("code") == str(status)
            assert any(e.findtext("description").startswith(description) for e in root), change
    assert (await intake.get("/v1/requests")).json() == []


async def test_querying_requests_with_the_specs_filters(intake) -> None:
    key, partner = await _key(intake)
    async with partner:
        ids = []
        for code in ("daily_necessities", "medicine", "policy_question"):
            r = await intake.post("/open311/v2/requests.json", data={**SPEC_POST, "service_code": code, "api_key": key})
            ids.append(r.json()[0]["service_request_id"])
        await partner.post(f"/v1/requests/{ids[1]}/cancel")

        everything = (await intake.get("/open311/v2/requests.json", params={"api_key": key})).json()
        assert {r["service_request_id"] for r in everything} == set(ids)
        one = everything[0]
        assert set(one) == {"service_request_id", "status", "status_notes", "service_name", "service_code",
                            "description", "agency_responsible", "service_notice", "requested_datetime",
                            "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                            "lat", "long", "media_url"}
        requested = datetime.fromisoformat(one["requested_datetime"])
        assert requested.tzinfo is not None and requested.microsecond == 0
        # Heartline's finer status in status_notes.  expected_datetime is
        # dispatch's promise, and dispatch has not made one yet (see
        # test_requests for one it has made).
        cancelled = next(r for r in everything if r["service_request_id"] == ids[1])
        assert (cancelled["status"], cancelled["status_notes"]) == ("closed", "cancelled")
        received = next(r for r in everything if r["service_request_id"] == ids[0])
        assert (received["status"], received["status_notes"]) == ("open", "received")
        assert received["expected_datetime"] is None
        assert received["description"] == "ditch light is broken"

        def query(**params):
            return intake.get("/open311/v2/requests.json", params={"api_key": key, **params})

        assert {r["service_request_id"] for r in (await query(status="open")).json()} == {ids[0], ids[2]}
        assert {r["service_request_id"] for r in (await query(status="closed")).json()} == {ids[1]}
        assert {r["service_request_id"] for r in (await query(service_code="medicine,policy_question")).json()} \
            == {ids[1], ids[2]}
        # service_request_id wins over every other filter.
        chosen = await query(service_request_id=f"{ids[0]},{ids[2]}", status="closed")
        assert sorted(r["service_request_id"] for r in chosen.json()) == sorted([ids[0], ids[2]])
        # The spec's example window (2010) holds none of today's requests.
        example = await query(start_date="2010-05-24T00:00:00Z", end_date="2010-06-24T00:00:00Z", status="open")
        assert example.status_code == 200 and example.json() == []
        now = datetime.now(UTC)
        window = await query(start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1)).isoformat())
        assert len(window.json()) == 3

        xml = await intake.get("/open311/v2/requests.xml", params={"api_key": key})
        root = ElementTree.fromstring(xml.content)
        assert root.tag == "service_requests" and len(root.findall("request")) == 3
        assert root.find("request/long") is not None

        single = await intake.get(f"/open311/v2/requests/{ids[0]}.json", params={"api_key": key})
        assert [r["service_request_id"] for r in single.json()] == [ids[0]]
        token = await intake.get(f"/open311/v2/tokens/{ids[0]}.json")
        assert token.json() == [{"service_request_id": ids[0], "token": ids[0]}]
        token_xml = ElementTree.fromstring((await intake.get(f"/open311/v2/tokens/{ids[0]}.xml")).content)
        assert token_xml.find("request/token").text == ids[0]


async def test_without_the_owners_key_nothing_identifies_the_requester(intake) -> None:
    key, partner = await _key(intake)
    await partner.aclose()
    created = await intake.post("/open311/v2/requests.json", data={**SPEC_POST, "api_key": key})
    request_id = created.json()[0]["service_request_id"]
    [public] = (await intake.get("/open311/v2/requests.json")).json()
    assert public["service_request_id"] == request_id
    assert public["description"] is None and public["address"] is None
    assert (public["lat"], public["long"]) == (37.77, -122.42)


async def test_bad_queries_get_the_specs_errors(intake) -> None:
    cases = [
        ({"status": "pending"}, "status:"),
        ({"start_date": "yesterday"}, "start_date:"),
        ({"start_date": "2024-01-01T00:00:00"}, "start_date:"),
        ({"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-06-01T00:00:00Z"}, "start_date, end_date:"),
        ({"api_key": "hlk_wrong"}, "api_key:"),
    ]
    for params, description in cases:
        response = await intake.get("/open311/v2/requests.json", params=params)
        assert response.status_code in (400, 403), params
        assert response.json()[0]["description"].startswith(description), response.json()
    missing = await intake.get("/open311/v2/requests/nothing-here.xml")
    assert missing.status_code == 404
    assert ElementTree.fromstring(missing.content).findtext("error/code") == "404"
    assert (await intake.get("/open311/v2/tokens/nope.json")).status_code == 404

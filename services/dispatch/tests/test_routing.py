"""Travel-time ranking against a local server speaking OSRM's table API, and
the fall back to great-circle order when the provider fails."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from services.dispatch.matching import Candidate
from services.dispatch.routing import FALLBACKS, RoutingError, TravelTimes, by_travel_time, durations_from, table_url
from tests.support.httpserver import LocalHttpServer, Request

from .conftest import coordinator_headers, request_event, team_event


class FakeOsrm:
    """Answers /table/v1/<profile>/<lon,lat;...> with the seconds it is given per
    source point, or with `status`/`body` when told to misbehave."""

    def __init__(self) -> None:
        self.seconds_by_point: dict[str, float | None] = {}
        self.status = 200
        self.body: object | None = None
        self.delay = 0.0
        self.asked: list[str] = []
        self.http = LocalHttpServer(self._answer)
        self.url = self.http.url

    def _answer(self, request: Request) -> None:
        self.asked.append(request.path)
        if self.delay:
            threading.Event().wait(self.delay)
        url = urlsplit(request.path)
        points = url.path.rsplit("/", 1)[1].split(";")
        sources = [int(i) for i in parse_qs(url.query)["sources"][0].split(";")]
        body = self.body if self.body is not None else {
            "code": "Ok", "durations": [[self.seconds_by_point.get(points[i])] for i in sources]}
        request.reply(self.status, json.dumps(body).encode(), "application/json")

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def osrm():
    server = FakeOsrm()
    yield server
    server.stop()


NEAR, FAR = Candidate("near", 1.0, 0), Candidate("far", 3.0, 0)
BASES = {"near": (30.60, 114.30), "far": (30.62, 114.33)}
REQUEST = (30.5928, 114.3055)


def test_the_table_request_puts_teams_as_sources_and_the_request_as_destination() -> None:
    url = table_url("http://osrm:5000/", "driving", REQUEST, [BASES["near"], BASES["far"]])
    assert url == ("http://osrm:5000/table/v1/driving/114.305500,30.592800;114.300000,30.600000;"
                   "114.330000,30.620000?sources=1;2&destinations=0&annotations=duration")


def test_answers_are_read_strictly() -> None:
    assert durations_from({"code": "Ok", "durations": [[12.5], [None]]}, 2) == [12.5, None]
    for bad in ({"code": "NoTable"}, {"code": "Ok", "durations": [[1.0]]}, {"code": "Ok", "durations": [["x"], [1]]},
                {"code": "Ok", "durations": [[-3], [1]]}, ["Ok"]):
        with pytest.raises(RoutingError):
            durations_from(bad, 2)


def test_fastest_first_then_no_route_last_ties_keep_the_distance_order() -> None:
    third = Candidate("third", 4.0, 0)
    assert by_travel_time([NEAR, FAR, third], [600, 300, None]) == [FAR, NEAR, third]
    assert by_travel_time([NEAR, FAR], [300.2, 300.4]) == [NEAR, FAR]


async def test_candidates_are_ranked_by_the_providers_travel_time(osrm) -> None:
    # The nearer team is across a river: the farther one gets there first.
    osrm.seconds_by_point = {"114.300000,30.600000": 1500.0, "114.330000,30.620000": 420.0}
    ranked, seconds = await TravelTimes(osrm.url).rank(REQUEST, [NEAR, FAR], BASES)
    assert ranked == [FAR, NEAR]
    assert seconds == {"near": 1500.0, "far": 420.0}
    assert osrm.asked and "/table/v1/driving/" in osrm.asked[0]


@pytest.mark.parametrize("trouble", ["500", "not ok", "slow"])
async def test_a_failing_provider_leaves_the_great_circle_order(osrm, trouble: str) -> None:
    osrm.seconds_by_point = {"114.300000,30.600000": 1500.0, "114.330000,30.620000": 420.0}
    if trouble == "500":
        osrm.status = 500
    elif trouble == "not ok":
        osrm.body = {"code": "InvalidQuery"}
    else:
        osrm.delay = 1.0
    reason = {"500": "HTTPStatusError", "not ok": "RoutingError", "slow": "timeout"}[trouble]
    before = FALLBACKS.labels(reason)._value.get()
    ranked, seconds = await TravelTimes(osrm.url, timeout_seconds=0.2).rank(REQUEST, [NEAR, FAR], BASES)
    assert (ranked, seconds) == ([NEAR, FAR], {})
    assert FALLBACKS.labels(reason)._value.get() == before + 1


async def test_one_candidate_needs_no_provider(osrm) -> None:
    assert await TravelTimes(osrm.url).rank(REQUEST, [NEAR], BASES) == ([NEAR], {})
    assert osrm.asked == []


async def test_dispatch_offers_to_the_team_that_gets_there_first(start_dispatch, osrm) -> None:
    """End to end: with a routing provider, the farther team that the provider
    says is faster gets the offer, and the coordinator sees both times."""
    near, far = str(uuid4()), str(uuid4())
    osrm.seconds_by_point = {"114.301000,30.596000": 1800.0, "114.310000,30.600000": 360.0}
    async with start_dispatch(routing_url=osrm.url) as dispatch:
        await dispatch.publish(team_event(near, lat=30.5960, lon=114.3010))
        await dispatch.publish(team_event(far, lat=30.6000, lon=114.3100, radius_km=5))
        await dispatch.team_loaded(near), await dispatch.team_loaded(far)
        request = request_event()
        await dispatch.publish(request)
        body = await dispatch.wait_status(str(request.data.request_id), "offered")
        assert body["assignment"]["team_id"] == far
        listed = await dispatch.client.get(f"/v1/requests/{request.data.request_id}/candidates",
                                           headers=coordinator_headers("wuhan-jianghan-01"))
        assert listed.status_code == 200, listed.text
        # The offered team holds a unit now; both still have room, so both are listed.
        assert [(c["team_id"], c["travel_minutes"]) for c in listed.json()["candidates"]] == [
            (far, 6.0), (near, 30.0)]

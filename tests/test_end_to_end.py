"""One request travels the whole way: four processes, real NATS JetStream,
real PostgreSQL, and a local HTTP server standing in for SMS and chat."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.system import System, request_body, running_system, team_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["postgresql", "sqlite"])
async def system(request, bus_env, make_database, tmp_path):
    """PostgreSQL as in production; SQLite files as in the embedded default."""
    sqlite_dir = tmp_path if request.param == "sqlite" else None
    async with running_system(make_database, bus_env, sqlite_dir=sqlite_dir) as system:
        yield system


def test_a_request_is_assigned_and_everyone_is_told(system: System) -> None:
    volunteers, intake, dispatch = system.client("volunteers"), system.client("intake"), system.client("dispatch")

    team = volunteers.post("/v1/teams", json=team_body(system.capture))
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    far_team = volunteers.post("/v1/teams", json=team_body(
        system.capture, name="Far Team", lat=30.70, lon=114.40, radius_km=20))
    assert far_team.status_code == 201, far_team.text
    system.wait_for_teams_in_dispatch(team_id, far_team.json()["id"])

    accepted = intake.post("/v1/requests", json=request_body(external_id="partner-1"))
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["id"]
    assert accepted.json()["status"] == "received"

    def offered():
        body = dispatch.get(f"/v1/requests/{request_id}").json()
        return body if body.get("status") == "offered" else None

    matched = wait_until(offered, what="dispatch to offer the request")
    # Both teams cover the location; the nearer one gets the offer.
    assert matched["assignment"]["team_id"] == team_id
    assert matched["assignment"]["distance_km"] < 1.0

    sms = wait_until(lambda: system.capture.sms_to("+8613800138000"), what="SMS to the requester")
    assert accepted.json()["reference"] in sms[0].body["message"]
    chat = wait_until(lambda: system.capture.at("/chat/team-a"), what="chat message to the team")
    assert "+8613800138000" not in chat[0].body["message"], "requester's phone leaked before acceptance"
    assert not system.capture.at("/chat/far-team")

    accept = dispatch.post(f"/v1/assignments/{matched['assignment']['id']}/accept")
    assert accept.status_code == 200, accept.text

    def intake_status():
        body = intake.get(f"/v1/requests/{request_id}").json()
        return body if body["status"] == "assigned" else None

    seen = wait_until(intake_status, what="intake to show the request as assigned")
    assert [h["status"] for h in seen["history"]] == ["received", "assigned"]

    def sent():
        logged = system.client("notify").get("/v1/deliveries", params={"request_id": request_id}).json()
        return {(d["recipient"], d["channel"]) for d in logged if d["status"] == "sent"}

    # The gateway and the chat see a message a moment before notify logs it
    # as sent: wait for both records, not for the first.
    assert wait_until(lambda: len(got := sent()) >= 2 and got, what="notify's delivery log") == {
        ("requester", "sms"), ("team", "chat")}


def test_repeating_an_external_id_does_not_make_a_second_request(system: System) -> None:
    intake = system.client("intake")
    first = intake.post("/v1/requests", json=request_body(external_id="dup-1"))
    again = intake.post("/v1/requests", json=request_body(external_id="dup-1"))
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_the_requester_is_promised_one_time_by_every_service(system: System) -> None:
    """Dispatch's SLA table is the only truth: its deadline for the request, intake's
    Open311 `expected_datetime` and the time in the requester's 'assigned' SMS agree."""
    volunteers, intake, dispatch = system.client("volunteers"), system.client("intake"), system.client("dispatch")
    team = volunteers.post("/v1/teams", json=team_body(system.capture))
    assert team.status_code == 201, team.text
    system.wait_for_teams_in_dispatch(team.json()["id"])
    request_id = intake.post("/v1/requests", json=request_body(external_id="sla-1")).json()["id"]

    offered = wait_until(lambda: (r := dispatch.get(f"/v1/requests/{request_id}").json())["status"] == "offered" and r,
                         what="dispatch to offer the request")
    due = datetime.fromisoformat(offered["sla_due_at"])
    received = datetime.fromisoformat(offered["received_at"])
    assert due - received == timedelta(minutes=120)  # dispatch's SLA for "high"
    assert dispatch.post(f"/v1/assignments/{offered['assignment']['id']}/accept").status_code == 200

    def open311_expected():
        found = intake.get(f"/open311/v2/requests/{request_id}.json").json()
        return found[0]["expected_datetime"] if found and found[0].get("expected_datetime") else None

    promised = datetime.fromisoformat(wait_until(open311_expected, what="intake's expected_datetime"))
    assert promised == due.replace(microsecond=0)  # the spec's format keeps whole seconds

    local = due.astimezone(ZoneInfo("Asia/Shanghai"))
    assigned = wait_until(lambda: [m for m in system.capture.sms_to("+8613800138000")
                                   if local.strftime("%H:%M") in m.body["message"]],
                          what="the assigned SMS naming the promised time")
    assert len(assigned) == 1, [m.body["message"] for m in system.capture.sms_to("+8613800138000")]

"""The closed loop (闭合管理), across all four services as separate processes
on real NATS JetStream and PostgreSQL: a request is offered, the team leader
accepts and reports it done by SMS, the requester confirms with a rating by
SMS, and the request is closed everywhere — with points for the volunteer."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from services.notify.replies import signed_headers
from tests.support.system import System, request_body, running_system, team_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SECRET = "closed-loop-inbound-secret-0123"
REQUESTER = "+8613800138000"


@pytest.fixture
async def system(bus_env, make_database):
    async with running_system(make_database, bus_env, {"NOTIFY_INBOUND_SECRET": SECRET}) as system:
        yield system


def _sms_in(system: System, sender: str, text: str) -> dict:
    body = json.dumps({"from": sender, "text": text}).encode()
    reply = httpx.post(system["notify"].url + "/v1/inbound/sms", content=body, timeout=10, headers={
        "content-type": "application/json", **signed_headers(SECRET, body, int(time.time()))})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_request_goes_all_the_way_round_to_closed(system: System) -> None:
    volunteers, intake, dispatch = (system.client(n) for n in ("volunteers", "intake", "dispatch"))
    team = volunteers.post("/v1/teams", json=team_body(system.capture, capacity=2)).json()
    member = volunteers.post(f"/v1/teams/{team['id']}/members", json={
        "name": "Zhao Lei", "phone": "+8613700137000", "skills": ["delivery"]})
    assert member.status_code == 201, member.text
    member_id = member.json()["id"]
    checkin = volunteers.post(f"/v1/members/{member_id}/checkins", json={"status": "ok"})
    assert checkin.status_code == 201, checkin.text
    system.wait_for_teams_in_dispatch(team["id"])  # on duty, with the member checked in

    posted = intake.post("/v1/requests", json=request_body(external_id="loop-1", phone=REQUESTER))
    assert posted.status_code == 202, posted.text
    request_id, reference = posted.json()["id"], posted.json()["reference"]

    def dispatch_status(status: str):
        return lambda: (body := dispatch.get(f"/v1/requests/{request_id}").json())["status"] == status and body

    def intake_status(status: str):
        return lambda: intake.get(f"/v1/requests/{request_id}").json()["status"] == status

    wait_until(dispatch_status("offered"), what="the offer")
    wait_until(lambda: system.capture.at("/chat/team-a"), what="the offer in the team's chat")
    assert _sms_in(system, team["leader"]["phone"], "1")["outcome"] == "accept"
    wait_until(dispatch_status("accepted"), what="acceptance by SMS")
    # Notify learns of the acceptance from dispatch's event, and until then a
    # "done" finds no accepted task; the team's contact goes out with it.
    wait_until(lambda: system.capture.at("/chat/team-a")[1:], what="the requester's contact in the team's chat")
    # Intake skips a change older than one it already has: let it take each
    # step before the next one can overtake it.
    wait_until(intake_status("assigned"), what="intake to show the request assigned")
    assert _sms_in(system, team["leader"]["phone"], "完成")["outcome"] == "complete"
    wait_until(dispatch_status("done"), what="completion by SMS")
    wait_until(intake_status("done"), what="intake to show the request done")

    # The requester was told at each step and is now asked to rate.
    asked = wait_until(lambda: len(got := system.capture.sms_to(REQUESTER)) >= 3 and got,
                       what="received, assigned and please-rate SMS to the requester")
    assert reference in asked[0].body["message"]
    assert "Team A" in asked[1].body["message"]
    _sms_in(system, REQUESTER, "5")

    closed = wait_until(dispatch_status("closed"), what="dispatch to close on the rating")
    assert [h["to_status"] for h in closed["history"]][-1] == "closed"

    def intake_closed():
        body = intake.get(f"/v1/requests/{request_id}").json()
        return body["status"] == "closed" and body.get("feedback") and body

    seen = wait_until(intake_closed, what="intake to show the request closed with its rating")
    assert seen["feedback"]["rating"] == 5
    assert [h["status"] for h in seen["history"]] == ["received", "assigned", "done", "closed"]

    points = wait_until(lambda: (p := volunteers.get(f"/v1/members/{member_id}/points").json())["total"] > 0 and p,
                        what="points for the volunteer")
    assert len(points["entries"]) == 1, "one completion, one ledger entry"

    # Nothing personal reached any service's log on the way round: not the
    # requester's, the leader's or the member's phone (in any form), name or words.
    personal = [REQUESTER, REQUESTER.removeprefix("+86"), "Li Na", "insulin", "6th floor",
                team["leader"]["phone"], team["leader"]["phone"].removeprefix("+86"), "Wang Wei",
                "+8613700137000", "13700137000", "Zhao Lei"]
    for name in ("intake", "volunteers", "dispatch", "notify"):
        logged = system[name].all_logs()
        assert "bus connected" in logged, f"{name} logged nothing: the check would prove nothing"
        leaked = [p for p in personal if p in logged]
        assert not leaked, f"{name} logged {leaked}"

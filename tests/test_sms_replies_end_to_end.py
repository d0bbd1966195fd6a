"""A team leader accepts an offer by replying "1" to the SMS gateway: notify
turns the signed webhook into aid.assignment.replied.v1, dispatch accepts the
assignment, and the team then gets the requester's contact.  Four processes,
real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from services.notify.replies import signed_headers
from tests.support.system import System, request_body, running_system, team_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SECRET = "e2e-inbound-secret-0123456789"


@pytest.fixture
async def system(bus_env, make_database):
    async with running_system(make_database, bus_env, {"NOTIFY_INBOUND_SECRET": SECRET}) as system:
        yield system


def test_a_leaders_sms_reply_1_accepts_the_offer(system: System) -> None:
    volunteers, intake, dispatch = system.client("volunteers"), system.client("intake"), system.client("dispatch")
    team = volunteers.post("/v1/teams", json=team_body(system.capture))
    assert team.status_code == 201, team.text
    system.wait_for_teams_in_dispatch(team.json()["id"])
    accepted = intake.post("/v1/requests", json=request_body(external_id="reply-1"))
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["id"]
    offer = wait_until(lambda: system.capture.at("/chat/team-a"), what="the offer in the team chat")
    assert "+8613800138000" not in offer[0].body["message"]

    body = json.dumps({"from": team.json()["leader"]["phone"], "text": "1"}).encode()
    reply = httpx.post(system["notify"].url + "/v1/inbound/sms", content=body, timeout=10, headers={
        "content-type": "application/json", **signed_headers(SECRET, body, int(time.time()))})
    assert reply.status_code == 200 and reply.json() == {"outcome": "accept"}, reply.text

    def dispatch_accepted():
        body = dispatch.get(f"/v1/requests/{request_id}").json()
        return body if body["status"] == "accepted" else None

    wait_until(dispatch_accepted, what="dispatch to accept on the SMS reply")
    contact = wait_until(lambda: system.capture.at("/chat/team-a")[1:], what="the requester's contact")
    assert "+8613800138000" in contact[0].body["message"]
    assigned = wait_until(lambda: system.capture.sms_to("+8613800138000")[1:], what="the assigned SMS")
    assert "Team A" in assigned[0].body["message"]

"""Consent: STOP (or the API) opts a number out of everything after, START
(or the API) back in; an opted-out number's messages are logged as suppressed."""

from __future__ import annotations

from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import COMMUNITY, REQUESTER_PHONE, coordinator, publish_wuhan, request_received, team_changed


async def test_stop_opts_a_number_out_of_everything_after(notify) -> None:
    assert (await notify.inbound_sms(REQUESTER_PHONE, "退订")).json() == {"outcome": "opted_out"}
    consent = (await notify.client.get(f"/v1/consents/{REQUESTER_PHONE}")).json()
    assert consent["opted_out"] is True and consent["changed_via"] == "sms"
    await notify.bus.publish(request_received(uuid4()))
    assert (await notify.inbound_sms(REQUESTER_PHONE, "blah")).json() == {"outcome": "help"}
    # A later message to someone else goes out, so the opted-out ones had their chance.
    await notify.bus.publish(request_received(uuid4(), phone="+8613800000002"))
    await eventually(lambda: notify.capture.sms_to("+8613800000002"), what="the other requester's SMS")
    # Events fetched together are handled side by side: the later one's SMS
    # does not mean the first one's receipt was logged.
    await notify.bus.settled("notify-requests")
    assert notify.capture.sms_to(REQUESTER_PHONE) == []
    suppressed = await notify.deliveries(status="suppressed")
    assert len(suppressed) == 2 and all(d["last_error"] == "the recipient opted out" for d in suppressed)


async def test_opt_out_by_api_and_back_in_by_start(notify) -> None:
    put = await notify.client.put(f"/v1/consents/{REQUESTER_PHONE}", json={"opted_out": True})
    assert put.status_code == 200 and put.json()["changed_via"] == "api"
    await notify.bus.publish(request_received(uuid4()))
    await eventually(lambda: notify.deliveries(status="suppressed"), what="the receipt logged as suppressed")
    assert len(await notify.deliveries(status="suppressed")) == 1
    assert (await notify.inbound_sms(REQUESTER_PHONE, "START")).json() == {"outcome": "opted_in"}
    await notify.bus.publish(request_received(uuid4(), reference="HL-AFTER"))
    sms = await eventually(lambda: notify.capture.sms_to(REQUESTER_PHONE), what="the SMS after opting in")
    assert all("HL-AFTER" in m.body["message"] for m in sms)
    bad = await notify.client.put("/v1/consents/13800138000", json={"opted_out": "perhaps"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"path.phone", "opted_out"}
    reasons = {e["field"]: e["reason"] for e in bad.json()["errors"]}
    assert reasons["path.phone"] == "must be in international E.164 form, starting with + and the country code"
    # E.164 in shape, but no such number in the UK's plan: the same check as every other door.
    unplanned = await notify.client.get("/v1/consents/+447700900123")
    assert unplanned.status_code == 422
    assert unplanned.json()["errors"] == [
        {"field": "path.phone", "reason": "is not a valid number in its country's numbering plan"}]


HONGSHAN_LEADER = "+8613900139777"
HONGSHAN_REQUESTER = "+8613800138777"


async def _hongshan_people(notify) -> None:
    await publish_wuhan(notify)
    await notify.bus.publish(team_changed(uuid4(), None, name="Hongshan 7", leader_phone=HONGSHAN_LEADER,
                                          community="wuhan-hongshan-07"))
    await notify.bus.publish(request_received(uuid4(), phone=HONGSHAN_REQUESTER, community="wuhan-hongshan-07"))
    await notify.bus.settled("notify-teams")
    await notify.bus.settled("notify-requests")


async def test_a_coordinator_cannot_opt_out_another_communitys_team_leader(notify) -> None:
    """The issue's attack: a jianghan-01 coordinator opts hongshan-07's team leader out of everything."""
    await _hongshan_people(notify)
    attacker = coordinator(COMMUNITY, subject="coordinator:jianghan")
    for phone in (HONGSHAN_LEADER, HONGSHAN_REQUESTER, "+8613800000999"):  # theirs, and one nobody knows
        put = await notify.client.put(f"/v1/consents/{phone}", headers=attacker,
                                      json={"opted_out": True, "reason": "asked to stop"})
        assert put.status_code == 404, put.text
        assert (await notify.client.get(f"/v1/consents/{phone}", headers=attacker)).status_code == 404
        assert (await notify.client.get(f"/v1/consents/{phone}/history", headers=attacker)).status_code == 404
    # Nothing changed: the admin sees the leader opted in, with no history.
    consent = (await notify.client.get(f"/v1/consents/{HONGSHAN_LEADER}")).json()
    assert consent["opted_out"] is False and consent["changed_via"] is None
    assert (await notify.client.get(f"/v1/consents/{HONGSHAN_LEADER}/history")).json() == []


async def test_a_coordinators_change_in_scope_needs_a_reason_and_is_audited(notify) -> None:
    await _hongshan_people(notify)
    own = coordinator("wuhan-hongshan-07", subject="coordinator:hongshan-07")
    bare = await notify.client.put(f"/v1/consents/{HONGSHAN_LEADER}", headers=own, json={"opted_out": True})
    assert bare.status_code == 422 and [e["field"] for e in bare.json()["errors"]] == ["reason"]
    blank = await notify.client.put(f"/v1/consents/{HONGSHAN_LEADER}", headers=own,
                                    json={"opted_out": True, "reason": "   "})
    assert blank.status_code == 422
    assert (await notify.client.get(f"/v1/consents/{HONGSHAN_LEADER}")).json()["opted_out"] is False
    done = await notify.client.put(f"/v1/consents/{HONGSHAN_LEADER}", headers=own,
                                   json={"opted_out": True, "reason": "leader on leave, asked by phone"})
    assert done.status_code == 200 and done.json()["opted_out"] is True
    # The requester's number too, and a district coordinator sees both.
    assert (await notify.client.put(f"/v1/consents/{HONGSHAN_REQUESTER}", headers=own, json={
        "opted_out": False, "preferred_channel": "phone_call", "reason": "cannot read SMS"})).status_code == 200
    district = coordinator("wuhan-hongshan", subject="coordinator:hongshan")
    assert (await notify.client.get(f"/v1/consents/{HONGSHAN_REQUESTER}", headers=district)).json()[
        "preferred_channel"] == "phone_call"
    assert (await notify.inbound_sms(HONGSHAN_LEADER, "START")).json() == {"outcome": "opted_in"}
    history = await notify.client.get(f"/v1/consents/{HONGSHAN_LEADER}/history", headers=district)
    assert history.status_code == 200 and history.headers["X-Total-Count"] == "2"
    newest, first = history.json()
    assert (newest["changed_via"], newest["changed_by"], newest["opted_out"]) == ("sms", "sender", False)
    assert (first["changed_via"], first["changed_by"], first["role"], first["reason"], first["opted_out"]) == (
        "api", "coordinator:hongshan-07", "coordinator", "leader on leave, asked by phone", True)
    # An admin may act without a reason; it is audited as theirs.
    assert (await notify.client.put(f"/v1/consents/{HONGSHAN_LEADER}", json={"opted_out": True})).status_code == 200
    latest = (await notify.client.get(f"/v1/consents/{HONGSHAN_LEADER}/history", params={"limit": 1})).json()
    assert [(c["changed_by"], c["role"], c["reason"]) for c in latest] == [("admin", "admin", None)]

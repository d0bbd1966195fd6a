"""Consent: STOP (or the API) opts a number out of everything after, START
(or the API) back in; an opted-out number's messages are logged as suppressed."""

from __future__ import annotations

from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import REQUESTER_PHONE, request_received


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

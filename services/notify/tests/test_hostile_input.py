"""Input that PostgreSQL text cannot hold (a NUL character) is a 422 naming
the field, never a 500 (tests/test_openapi_fuzz.py sends such input)."""

from __future__ import annotations

from uuid import uuid4

from .conftest import LEADER_PHONE, publish_wuhan, team_changed


async def test_nul_characters_are_refused_not_failed(notify) -> None:
    await publish_wuhan(notify)
    team_id = uuid4()
    await notify.bus.publish(team_changed(team_id, None))
    await notify.bus.settled("notify-teams")
    consent = await notify.client.put(f"/v1/consents/{LEADER_PHONE}", json={"opted_out": True, "reason": "a\x00"})
    sms = await notify.inbound_sms(LEADER_PHONE, "1\x00")
    sms_id = await notify.inbound_sms(LEADER_PHONE, "1", id="x\x00")
    chat = await notify.inbound_chat(team_id, "DONE\x00")
    for response, field in ((consent, "reason"), (sms, "text"), (sms_id, "id"), (chat, "text")):
        assert response.status_code == 422, (field, response.text)
        assert field in {e["field"].split(".")[-1] for e in response.json()["errors"]}, response.json()
    assert (await notify.client.get(f"/v1/consents/{LEADER_PHONE}")).json()["opted_out"] is False

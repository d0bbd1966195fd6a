"""Input schemathesis found to make dispatch answer 500 (tests/test_openapi_fuzz.py):
a NUL character, which PostgreSQL text cannot hold, is a 422 naming the field."""

from __future__ import annotations

from .conftest import publish_tree, request_event, team_event

TEAM = "11111111-1111-1111-1111-111111111111"


async def test_nul_characters_are_refused_not_failed(dispatch) -> None:
    await publish_tree(dispatch)
    await dispatch.publish(team_event(TEAM))
    await dispatch.team_loaded(TEAM)
    event = request_event()
    await dispatch.publish(event)
    request_id = str(event.data.request_id)
    offered = await dispatch.wait_status(request_id, "offered")
    client = dispatch.client
    for call, field in (
        (client.get("/v1/requests", params={"community": "a\x00b"}), "community"),
        (client.post(f"/v1/requests/{request_id}/notes", json={"text": "a\x00b"}), "text"),
        (client.post(f"/v1/assignments/{offered['assignment']['id']}/decline", json={"reason": "\x00"}), "reason"),
        (client.post(f"/v1/requests/{request_id}/assign", json={"team_id": TEAM, "reason": "a\x00b"}), "reason"),
        (client.post(f"/v1/requests/{request_id}/cancel", json={"reason": "a\x00b"}), "reason"),
    ):
        response = await call
        assert response.status_code == 422, (field, response.text)
        assert field in {e["field"].split(".")[-1] for e in response.json()["errors"]}, response.json()
    assert (await dispatch.request(request_id))["status"] == "offered"

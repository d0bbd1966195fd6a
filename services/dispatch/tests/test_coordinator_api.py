"""The coordinators' API: queue filters and paging, history, candidates with
exclusions, manual assign with capacity override, notes, stats, and scoping
to a coordinator's communities."""

from __future__ import annotations

from uuid import uuid4

from .conftest import COMMUNITY, Dispatch, coordinator_headers, eventually, request_event, team_event

OTHER = "wuhan-wuchang-02"


async def test_queue_filters_and_paging(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, capacity=0))
    await dispatch.team_loaded(team)
    events = [request_event(urgency="critical"), request_event(urgency="normal", category="daily_necessities"),
              request_event(urgency="normal", community=OTHER)]
    for e in events:
        await dispatch.publish(e)
    for e in events:
        await eventually(lambda e=e: dispatch.request(str(e.data.request_id)), what="requests to arrive")

    async def ids(**params):
        response = await dispatch.client.get("/v1/requests", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()], int(response.headers["x-total-count"])

    assert (await ids(urgency="critical"))[0] == [str(events[0].data.request_id)]
    assert (await ids(category="daily_necessities"))[0] == [str(events[1].data.request_id)]
    assert (await ids(community=OTHER))[0] == [str(events[2].data.request_id)]
    assert (await ids(min_age_minutes=60))[0] == []
    page1, total = await ids(limit=2)
    page2, _ = await ids(limit=2, offset=2)
    assert total == 3 and len(page1) == 2 and len(page2) == 1 and not set(page1) & set(page2)

    bad = await dispatch.client.get("/v1/requests", params={"urgency": "whenever"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.urgency"


async def test_candidates_explain_every_exclusion(dispatch: Dispatch) -> None:
    best, busy, off, unskilled = (str(uuid4()) for _ in range(4))
    await dispatch.publish(team_event(best, lat=30.5960, lon=114.3010, capacity=2))
    await dispatch.publish(team_event(busy, capacity=0))
    await dispatch.publish(team_event(off, on_duty=False))
    await dispatch.publish(team_event(unskilled, categories=("daily_necessities",)))
    for t in (best, busy, off, unskilled):
        await dispatch.team_loaded(t)
    request = request_event()
    await dispatch.publish(request)
    request_id = str(request.data.request_id)
    await dispatch.wait_status(request_id, "offered")
    body = (await dispatch.client.get(f"/v1/requests/{request_id}/candidates")).json()
    assert [c["team_id"] for c in body["candidates"]] == [best]
    assert {e["team_id"]: e["reason"] for e in body["excluded"]} == {
        busy: "no_capacity", off: "off_duty", unskilled: "no_skill"}


async def test_manual_assign_respects_capacity_unless_overridden_and_is_audited(dispatch: Dispatch) -> None:
    first, full = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(first, lat=30.5960, lon=114.3010, capacity=1))
    await dispatch.publish(team_event(full, capacity=0, lat=30.60))
    await dispatch.team_loaded(first), await dispatch.team_loaded(full)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    await dispatch.wait_status(request_id, "offered")

    refused = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                         json={"team_id": full, "reason": "they know her"})
    assert refused.status_code == 409 and "capacity" in refused.json()["detail"]
    missing_reason = await dispatch.client.post(f"/v1/requests/{request_id}/assign", json={"team_id": full})
    assert missing_reason.status_code == 422 and missing_reason.json()["errors"][0]["field"] == "reason"
    unknown = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                         json={"team_id": str(uuid4()), "reason": "x"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "team_id"

    moved = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                       json={"team_id": full, "reason": "they know her", "override_capacity": True})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["status"] == "offered" and body["assignment"]["team_id"] == full
    assert "capacity override" in body["history"][-1]["reason"]
    assert body["history"][-1]["actor"] == "admin"
    rows = await dispatch.sql("SELECT id, open_tasks FROM teams")
    assert {r["id"]: r["open_tasks"] for r in rows} == {first: 0, full: 1}
    history = (await dispatch.client.get(f"/v1/requests/{request_id}/history")).json()
    assert [a["state"] for a in history["assignments"]] == ["reassigned", "offered"]


async def test_notes_and_scoping_to_a_coordinators_communities(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team))
    await dispatch.team_loaded(team)
    mine, theirs = request_event(), request_event(community=OTHER)
    await dispatch.publish(mine)
    await dispatch.publish(theirs)
    await dispatch.wait_status(str(mine.data.request_id), "offered")
    await eventually(lambda: dispatch.request(str(theirs.data.request_id)), what="the other request")

    coordinator = coordinator_headers(COMMUNITY)
    listed = await dispatch.client.get("/v1/requests", headers=coordinator)
    assert [r["id"] for r in listed.json()] == [str(mine.data.request_id)]
    forbidden = await dispatch.client.get(f"/v1/requests/{theirs.data.request_id}", headers=coordinator)
    assert forbidden.status_code == 403
    cancel = await dispatch.client.post(f"/v1/requests/{theirs.data.request_id}/cancel",
                                        json={"reason": "x"}, headers=coordinator)
    assert cancel.status_code == 403
    assert (await dispatch.request(str(theirs.data.request_id)))["status"] != "cancelled"

    note = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/notes",
                                      json={"text": "called her, she is fine until tonight"}, headers=coordinator)
    assert note.status_code == 201 and note.json()["author"] == "coord-zhang"
    empty = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/notes", json={"text": ""},
                                       headers=coordinator)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "text"
    assignment = (await dispatch.request(str(mine.data.request_id)))["assignment"]["id"]
    accepted = await dispatch.client.post(f"/v1/assignments/{assignment}/accept", headers=coordinator)
    assert accepted.status_code == 200
    history = (await dispatch.client.get(f"/v1/requests/{mine.data.request_id}/history", headers=coordinator)).json()
    assert history["notes"][0]["text"].startswith("called her")
    assert history["request"]["history"][-1]["actor"] == "coord-zhang"

    held_before = (await dispatch.sql("SELECT open_tasks FROM teams"))[0]["open_tasks"]
    cancelled = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/cancel",
                                           json={"reason": "moved to hospital"}, headers=coordinator)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await dispatch.sql("SELECT open_tasks FROM teams"))[0]["open_tasks"] == held_before - 1


async def test_stats_for_the_console(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, capacity=2))
    await dispatch.team_loaded(team)
    done, waiting = request_event(), request_event(category="daily_necessities")
    await dispatch.publish(done)
    offer = (await dispatch.wait_status(str(done.data.request_id), "offered"))["assignment"]["id"]
    for action in ("accept", "complete"):
        assert (await dispatch.client.post(f"/v1/assignments/{offer}/{action}")).status_code == 200
    await dispatch.publish(waiting)
    await dispatch.wait_status(str(waiting.data.request_id), "offered")

    stats = (await dispatch.client.get("/v1/stats")).json()
    assert stats["open"] == [{"community": COMMUNITY, "category": "daily_necessities", "open": 1}]
    assert stats["demand_vs_capacity"] == [{"community": COMMUNITY, "waiting_requests": 1, "on_duty_teams": 1,
                                            "on_duty_capacity": 2, "free_capacity": 1}]
    assert stats["time_to_accept_seconds"]["count"] == 1
    assert stats["time_to_accept_seconds"]["p50"] >= 0
    assert stats["time_to_close_seconds"]["count"] == 0
    assert stats["sla_breaches"] == []
    other = (await dispatch.client.get("/v1/stats", headers=coordinator_headers(OTHER))).json()
    assert other["open"] == [] and other["demand_vs_capacity"] == []

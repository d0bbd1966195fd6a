"""The read model of communities and the scope it gives every door: a
coordinator of one community sees and acts on nothing of another (404, an
empty list), a district or city coordinator on everything below it; a
request that came without a community is placed by the boundaries.  On real
PostgreSQL and NATS."""

from __future__ import annotations

from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import (
    CITY,
    COMMUNITY,
    FAR,
    FAR_COMMUNITY,
    HERE,
    JIANGHAN,
    NEIGHBOUR,
    Dispatch,
    community_event,
    coordinator_headers,
    publish_tree,
    request_event,
    square,
    team_event,
)


async def test_the_read_model_applies_only_newer_versions_once(dispatch: Dispatch) -> None:
    await publish_tree(dispatch)
    moved = community_event(NEIGHBOUR, parent=CITY, version=2)
    await dispatch.publish(community_event(NEIGHBOUR, parent="wuhan-hanyang", version=1))  # older: ignored
    await dispatch.publish(moved)
    await dispatch.publish(moved)  # a redelivery: once
    await eventually(lambda: dispatch.app.state.communities.tree.parents.get(NEIGHBOUR) == CITY,
                     what="the newer parent")
    rows = await dispatch.sql("SELECT version, parent, level FROM communities WHERE code = $1", NEIGHBOUR)
    assert [(r["version"], r["parent"], r["level"]) for r in rows] == [(2, CITY, "community")]


async def _three_requests(dispatch: Dispatch) -> tuple[str, str, str, str]:
    """Requests of jianghan-01, jianghan-02 and hongshan-07, each offered to a
    team of its own community; their ids and the hongshan request's assignment."""
    await publish_tree(dispatch)
    teams = {COMMUNITY: (HERE, str(uuid4())), NEIGHBOUR: ((30.6000, 114.3100), str(uuid4())),
             FAR_COMMUNITY: (FAR, str(uuid4()))}
    for community, ((lat, lon), team) in teams.items():
        await dispatch.publish(team_event(team, lat=lat, lon=lon, community=community))
        await dispatch.team_loaded(team)
    events = [request_event(lat=lat + 0.001, lon=lon, community=community)
              for community, ((lat, lon), _) in teams.items()]
    for e in events:
        await dispatch.publish(e)
    bodies = [await dispatch.wait_status(str(e.data.request_id), "offered") for e in events]
    for body, (_, team) in zip(bodies, teams.values(), strict=True):
        assert body["assignment"]["team_id"] == team
    mine, neighbours, theirs = (str(e.data.request_id) for e in events)
    return mine, neighbours, theirs, bodies[2]["assignment"]["id"]


async def test_a_community_coordinator_sees_and_touches_nothing_of_another(dispatch: Dispatch) -> None:
    mine, neighbours, theirs, their_assignment = await _three_requests(dispatch)
    jianghan_01 = coordinator_headers(COMMUNITY)

    queue = await dispatch.client.get("/v1/requests", headers=jianghan_01)
    assert [r["id"] for r in queue.json()] == [mine] and queue.headers["x-total-count"] == "1"
    # Asking for another community's queue by filter gives nothing, not theirs.
    other = await dispatch.client.get("/v1/requests", params={"community": FAR_COMMUNITY}, headers=jianghan_01)
    assert other.status_code == 200 and other.json() == [] and other.headers["x-total-count"] == "0"

    doors = [("GET", f"/v1/requests/{theirs}", None), ("GET", f"/v1/requests/{theirs}/history", None),
             ("GET", f"/v1/requests/{theirs}/candidates", None),
             ("POST", f"/v1/requests/{theirs}/notes", {"text": "hello"}),
             ("POST", f"/v1/requests/{theirs}/cancel", {"reason": "mine now"}),
             ("POST", f"/v1/requests/{theirs}/assign", {"team_id": str(uuid4()), "reason": "mine now"}),
             *(("POST", f"/v1/assignments/{their_assignment}/{a}", None)
               for a in ("accept", "decline", "start", "complete"))]
    for method, url, body in doors:
        answer = await dispatch.client.request(method, url, json=body, headers=jianghan_01)
        assert answer.status_code == 404, f"{method} {url}: {answer.status_code} {answer.text}"
        assert "outside" not in answer.text  # nothing that confirms it exists
    # Nothing of theirs moved, and no note was added.
    assert (await dispatch.request(theirs))["status"] == "offered"
    assert (await dispatch.sql("SELECT count(*) AS n FROM notes"))[0]["n"] == 0

    # Its own request's candidates do not list the other communities' teams.
    candidates = (await dispatch.client.get(f"/v1/requests/{mine}/candidates", headers=jianghan_01)).json()
    listed = [c["community"] for c in candidates["candidates"]] + [e["community"] for e in candidates["excluded"]]
    assert set(listed) == {COMMUNITY}

    stats = (await dispatch.client.get("/v1/stats", headers=jianghan_01)).json()
    assert {r["community"] for r in stats["open"]} == {COMMUNITY}
    assert {r["community"] for r in stats["demand_vs_capacity"]} == {COMMUNITY}


async def test_a_district_or_city_coordinator_sees_everything_below_it(dispatch: Dispatch) -> None:
    mine, neighbours, theirs, _ = await _three_requests(dispatch)
    district = coordinator_headers(JIANGHAN)
    queue = await dispatch.client.get("/v1/requests", headers=district)
    assert sorted(r["id"] for r in queue.json()) == sorted([mine, neighbours])
    for request_id in (mine, neighbours):
        assert (await dispatch.client.get(f"/v1/requests/{request_id}", headers=district)).status_code == 200
    assert (await dispatch.client.get(f"/v1/requests/{theirs}", headers=district)).status_code == 404
    stats = (await dispatch.client.get("/v1/stats", headers=district)).json()
    assert {r["community"] for r in stats["open"]} == {COMMUNITY, NEIGHBOUR}

    city = coordinator_headers(CITY)
    queue = await dispatch.client.get("/v1/requests", headers=city)
    assert sorted(r["id"] for r in queue.json()) == sorted([mine, neighbours, theirs])
    note = await dispatch.client.post(f"/v1/requests/{theirs}/notes", json={"text": "called"}, headers=city)
    assert note.status_code == 201


async def test_a_request_without_a_community_takes_the_one_whose_boundary_holds_it(dispatch: Dispatch) -> None:
    await publish_tree(dispatch, boundaries={FAR_COMMUNITY: square(*FAR, half_km=2.0)})
    ghost, theirs = str(uuid4()), str(uuid4())
    # A team declared in jianghan-01, its base in hongshan-07 and reaching far:
    # without the boundary, the nearest team would win the request.
    await dispatch.publish(team_event(ghost, lat=FAR[0], lon=FAR[1], radius_km=50, capacity=1000))
    await dispatch.publish(team_event(theirs, lat=FAR[0] + 0.01, lon=FAR[1], community=FAR_COMMUNITY))
    await dispatch.team_loaded(ghost), await dispatch.team_loaded(theirs)
    request = request_event(lat=FAR[0], lon=FAR[1] + 0.001, community=None)
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "offered")
    assert body["community"] == FAR_COMMUNITY and body["assignment"]["team_id"] == theirs

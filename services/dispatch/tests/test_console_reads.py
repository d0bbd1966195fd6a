"""What the console reads: queue filters and paging (a fixed number of
queries whatever the page size), candidates with every exclusion explained,
and the figures, scoped to a coordinator's communities."""

from __future__ import annotations

from contextvars import ContextVar
from uuid import uuid4

from sqlalchemy import event

from tests.support.waiting import eventually

from .conftest import COMMUNITY, Dispatch, coordinator_headers, request_event, team_event

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


# The statements sent by the code running in this context (the test's own
# request), not by the background loops that share the engine.
_sent: ContextVar[list[str] | None] = ContextVar("statements_sent", default=None)


def _note_statement(_conn, _cursor, statement: str, *_args) -> None:
    sent = _sent.get()
    if sent is not None:
        sent.append(statement)


async def test_a_page_of_the_queue_costs_the_same_few_queries_whatever_its_size(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, capacity=3))
    await dispatch.team_loaded(team)
    for _ in range(60):
        await dispatch.publish(request_event())

    async def all_in():
        response = await dispatch.client.get("/v1/requests", params={"limit": 1})
        return int(response.headers["x-total-count"]) == 60
    await eventually(all_in, what="60 requests in the queue")
    await eventually(lambda: _offered(dispatch, 3), what="three requests offered to the team")

    engine = dispatch.app.state.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _note_statement)
    try:
        pages = {}
        for limit in (5, 50):
            sent: list[str] = []
            token = _sent.set(sent)
            try:
                response = await dispatch.client.get("/v1/requests", params={"limit": limit})
            finally:
                _sent.reset(token)
            assert response.status_code == 200 and len(response.json()) == limit
            pages[limit] = (response.json(), len(sent))
    finally:
        event.remove(engine, "before_cursor_execute", _note_statement)
    # The page, the total, the page's current assignments, their histories.
    assert pages[5][1] == pages[50][1] == 4, {limit: count for limit, (_, count) in pages.items()}
    # Read in bulk, each request is what reading it alone gives.
    listed = pages[50][0]
    assert sum(r["assignment"] is not None for r in listed) == 3
    for row in listed:
        assert row == await dispatch.request(row["id"])


async def _offered(dispatch: Dispatch, count: int) -> bool:
    response = await dispatch.client.get("/v1/requests", params={"status": "offered"})
    return int(response.headers["x-total-count"]) == count


async def test_every_number_of_the_queue_is_bounded_a_422_naming_it_never_a_500(dispatch: Dispatch) -> None:
    # schemathesis found a 500 for a huge min_age_minutes (a date before year 1).
    for name, value in (("min_age_minutes", "1e12"), ("max_age_minutes", "99999999999"),
                        ("min_age_minutes", "inf"), ("max_age_minutes", "nan"), ("min_age_minutes", "-1"),
                        ("offset", "10000000000"), ("limit", "0"), ("limit", "501")):
        answer = await dispatch.client.get("/v1/requests", params={name: value})
        assert answer.status_code == 422, f"{name}={value}: {answer.status_code} {answer.text}"
        assert answer.json()["errors"][0]["field"] == f"query.{name}"
    oldest = await dispatch.client.get("/v1/requests", params={"min_age_minutes": 10 * 366 * 24 * 60})
    assert oldest.status_code == 200 and oldest.json() == []
    long_community = await dispatch.client.get("/v1/requests", params={"community": "x" * 65})
    assert long_community.status_code == 422

"""The pure matching module: properties that must hold for any teams and any
request (hypothesis), and a few worked examples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dispatch.matching import (
    ESCALATION_REASONS,
    Area,
    BacklogRequest,
    Exclusion,
    TeamIndex,
    TeamSnapshot,
    assign_backlog,
    assign_greedy,
    assign_jointly,
    escalation_reason,
    match_candidates,
    queue_key,
    total_distance,
)

CATEGORIES = ("medicine", "daily_necessities", "psychological_support")
LAT0, LON0 = 30.59, 114.30

lats = st.floats(LAT0 - 0.3, LAT0 + 0.3)
lons = st.floats(LON0 - 0.3, LON0 + 0.3)


@st.composite
def squares(draw):
    """A square polygon around a point, sometimes with a square hole."""
    lat, lon = draw(lats), draw(lons)
    half = draw(st.floats(0.01, 0.1))
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    rings = [ring]
    if draw(st.booleans()):
        h = half / 3
        rings.append([[lon - h, lat - h], [lon + h, lat - h], [lon + h, lat + h], [lon - h, lat + h], [lon - h, lat - h]])
    return {"type": "Polygon", "coordinates": rings}


@st.composite
def teams(draw, team_id: str):
    area = draw(st.none() | squares())
    return TeamSnapshot(
        id=team_id, lat=draw(lats), lon=draw(lons), radius_km=draw(st.floats(0.5, 15)),
        categories=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), max_size=3))),
        capacity=draw(st.integers(0, 3)), open_tasks=draw(st.integers(0, 3)),
        active=draw(st.booleans()), on_duty=draw(st.booleans()),
        area=Area.from_geojson(area) if area else None,
    )


@st.composite
def team_lists(draw, max_size: int = 25):
    n = draw(st.integers(0, max_size))
    return [draw(teams(f"t{i}")) for i in range(n)]


@st.composite
def backlogs(draw, max_size: int = 12):
    n = draw(st.integers(1, max_size))
    return [BacklogRequest(f"r{i}", draw(lats), draw(lons), draw(st.sampled_from(CATEGORIES)))
            for i in range(n)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(team_lists(), lats, lons, st.sampled_from(CATEGORIES), st.sampled_from([0.0, 5.0]))
def test_a_candidate_covers_the_location_serves_the_category_is_on_duty_and_has_room(
        all_teams, lat, lon, category, margin) -> None:
    found, excluded = match_candidates(lat, lon, category, all_teams, margin_km=margin)
    by_id = {t.id: t for t in all_teams}
    for c in found:
        team = by_id[c.team_id]
        assert team.covers(lat, lon, margin)
        if margin == 0 and team.area is not None:
            assert team.area.contains(lat, lon)
        assert category in team.categories
        assert team.active and team.on_duty
        assert team.open_tasks < team.capacity
    assert {c.team_id for c in found} | {e.team_id for e in excluded} == set(by_id)
    ranked = [round(c.distance_km, 3) for c in found]
    assert ranked == sorted(ranked), "candidates are nearest first"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(team_lists(40), st.lists(st.tuples(lats, lons), min_size=1, max_size=5), st.sampled_from(CATEGORIES))
def test_the_spatial_index_finds_exactly_what_a_full_scan_finds(all_teams, points, category) -> None:
    index = TeamIndex(all_teams)
    for lat, lon in points:
        for margin in (0.0, 5.0):
            via_index, _ = match_candidates(lat, lon, category, index.near(lat, lon, margin > 0), margin_km=margin)
            via_scan, _ = match_candidates(lat, lon, category, all_teams, margin_km=margin)
            assert via_index == via_scan


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(backlogs(), team_lists(10))
def test_surge_never_overfills_never_breaks_a_rule_and_is_never_worse_than_greedy(requests, all_teams) -> None:
    joint = assign_jointly(requests, all_teams)
    greedy = assign_greedy(requests, all_teams)
    by_id = {t.id: t for t in all_teams}
    by_request = {r.id: r for r in requests}
    for pairings in (joint, greedy, assign_backlog(requests, all_teams)):
        assert len({p.request_id for p in pairings}) == len(pairings), "a request assigned twice"
        load: dict[str, int] = {}
        for p in pairings:
            team, request = by_id[p.team_id], by_request[p.request_id]
            found, _ = match_candidates(request.lat, request.lon, request.category, [team])
            assert found, f"{p} breaks a rule"
            load[p.team_id] = load.get(p.team_id, 0) + 1
        for team_id, n in load.items():
            assert n <= by_id[team_id].capacity - by_id[team_id].open_tasks, "over capacity"
    # Min-cost places as many requests as possible, and among such the shortest total.
    assert len(joint) >= len(greedy)
    if len(joint) == len(greedy):
        assert total_distance(joint) <= total_distance(greedy) + 1e-6


def test_surge_beats_greedy_on_a_classic_crossing() -> None:
    # Greedy gives r0 the team next door, leaving r1 a long way to go.
    a = TeamSnapshot("a", 30.600, 114.300, 30, frozenset({"medicine"}), 1, 0, True)
    b = TeamSnapshot("b", 30.600, 114.400, 30, frozenset({"medicine"}), 1, 0, True)
    r0 = BacklogRequest("r0", 30.600, 114.340, "medicine")
    r1 = BacklogRequest("r1", 30.600, 114.200, "medicine")
    greedy, joint = assign_greedy([r0, r1], [a, b]), assign_jointly([r0, r1], [a, b])
    assert {(p.request_id, p.team_id) for p in greedy} == {("r0", "a"), ("r1", "b")}
    assert {(p.request_id, p.team_id) for p in joint} == {("r0", "b"), ("r1", "a")}
    assert total_distance(joint) < total_distance(greedy)


def test_backlog_tiers_serve_critical_before_normal() -> None:
    team = TeamSnapshot("a", 30.6, 114.3, 30, frozenset({"medicine"}), 1, 0, True)
    near_normal = BacklogRequest("n", 30.6, 114.3, "medicine", "normal")
    far_critical = BacklogRequest("c", 30.6, 114.4, "medicine", "critical")
    assert [p.request_id for p in assign_backlog([near_normal, far_critical], [team])] == ["c"]


def test_queue_key_orders_urgency_then_vulnerability_then_age() -> None:
    keys = {
        "normal-old": queue_key("normal", (), 1),
        "critical-old": queue_key("critical", (), 1),
        "critical-elderly-new": queue_key("critical", ("elderly_alone",), 5),
        "critical-smartphone-new": queue_key("critical", ("no_smartphone",), 5),
    }
    assert sorted(keys, key=keys.get) == ["critical-elderly-new", "critical-smartphone-new",
                                          "critical-old", "normal-old"]


def test_escalation_reason_is_how_far_the_search_got() -> None:
    assert escalation_reason([]) == "outside every team's area"
    assert escalation_reason([Exclusion("a", "outside_area"), Exclusion("b", "no_skill")]) == "no team with the skill"
    assert escalation_reason([Exclusion("a", "off_duty"), Exclusion("b", "no_skill")]) == "no team on duty"
    assert escalation_reason([Exclusion("a", "no_capacity")]) == "no team with free capacity"
    assert escalation_reason([Exclusion("a", "already_tried")]) == ESCALATION_REASONS[-1]


def test_a_bad_area_is_refused() -> None:
    import pytest
    with pytest.raises(ValueError):
        Area.from_geojson({"type": "Point", "coordinates": [114.3, 30.6]})
    with pytest.raises(ValueError):
        Area.from_geojson({"type": "Polygon", "coordinates": [[[114.3, 30.6], [114.4, 30.6], [114.3, 30.6]]]})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(team_lists(20), team_lists(20), st.sets(st.integers(0, 19)), st.lists(st.tuples(lats, lons), min_size=1,
                                                                             max_size=4),
       st.sampled_from(CATEGORIES))
def test_an_index_kept_current_by_replacing_and_discarding_teams_is_one_built_afresh(
        before, after, gone, points, category) -> None:
    """What each replica's in-memory index does on every reload."""
    index = TeamIndex(before)
    for team in after:
        index.add(team)
    for i in gone:
        index.discard(f"t{i}")
    current = {t.id: t for t in before} | {t.id: t for t in after}
    for i in gone:
        current.pop(f"t{i}", None)
    fresh = TeamIndex(current.values())
    assert index.teams == fresh.teams
    for lat, lon in points:
        for widened in (False, True):
            margin = 5.0 if widened else 0.0
            kept, kept_out = match_candidates(lat, lon, category, index.near(lat, lon, widened), margin_km=margin)
            built, built_out = match_candidates(lat, lon, category, fresh.near(lat, lon, widened), margin_km=margin)
            assert kept == built
            assert set(kept_out) == set(built_out)

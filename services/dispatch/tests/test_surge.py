"""Surge mode's joint assignment of a backlog: never over capacity, never
against a rule, never worse than greedy nearest, and tier by tier."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dispatch.matching import TeamSnapshot, match_candidates
from services.dispatch.surge import BacklogRequest, assign_backlog, assign_greedy, assign_jointly, total_distance

from .strategies import CATEGORIES, lats, lons, team_lists


@st.composite
def backlogs(draw, max_size: int = 12):
    n = draw(st.integers(1, max_size))
    return [BacklogRequest(f"r{i}", draw(lats), draw(lons), draw(st.sampled_from(CATEGORIES)))
            for i in range(n)]


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

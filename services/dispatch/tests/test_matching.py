"""The pure matching module: properties that must hold for any teams and any
request (hypothesis), and a few worked examples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dispatch.matching import (
    ESCALATION_REASONS,
    Area,
    Exclusion,
    TeamIndex,
    escalation_reason,
    match_candidates,
)

from .strategies import CATEGORIES, lats, lons, team_lists


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

"""Scopes: a district's coordinator covers its communities, and no one else's."""

from __future__ import annotations

from shared.http import Principal
from shared.scope import CommunityTree, covers, visible_communities

TREE = CommunityTree({"wuhan": None, "jianghan": "wuhan", "hongshan": "wuhan",
                      "jianghan-01": "jianghan", "jianghan-02": "jianghan", "hongshan-07": "hongshan"})


def coordinator(*codes: str) -> Principal:
    return Principal(role="coordinator", subject="c", communities=frozenset(codes))


def test_a_community_coordinator_covers_only_that_community() -> None:
    one = coordinator("jianghan-01")
    assert covers(one, "jianghan-01", TREE)
    assert not covers(one, "jianghan-02", TREE) and not covers(one, "hongshan-07", TREE)
    assert not covers(one, "jianghan", TREE) and not covers(one, None, TREE)
    assert visible_communities(one, TREE) == {"jianghan-01"}


def test_a_district_coordinator_covers_its_communities() -> None:
    district = coordinator("jianghan")
    assert covers(district, "jianghan-01", TREE) and covers(district, "jianghan-02", TREE)
    assert not covers(district, "hongshan-07", TREE)
    assert visible_communities(district, TREE) == {"jianghan", "jianghan-01", "jianghan-02"}


def test_a_city_covers_all_and_admins_see_everything() -> None:
    assert visible_communities(coordinator("wuhan"), TREE) == set(TREE.parents)
    admin = Principal(role="admin", subject="admin")
    assert covers(admin, "hongshan-07", TREE) and covers(admin, None, TREE)
    assert visible_communities(admin, TREE) is None


def test_an_unknown_community_is_covered_only_by_naming_it_and_cycles_end() -> None:
    assert covers(coordinator("new-01"), "new-01", TREE) and not covers(coordinator("wuhan"), "new-01", TREE)
    looped = CommunityTree({"a": "b", "b": "a"})
    assert looped.lineage("a") == ("a", "b") and looped.expand(["a"]) == {"a", "b"}

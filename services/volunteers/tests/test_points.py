"""The points rules, pure: the domain's table, rounding, unknowns, and an operator's override."""

from __future__ import annotations

from services.volunteers.points import PointsRules
from services.volunteers.settings import VolunteersSettings


def test_the_table_times_the_urgency_rounded_half_up() -> None:
    rules = PointsRules()
    assert rules.points_for("medicine", "high") == 23  # 15 × 1.5 = 22.5
    assert rules.points_for("daily_necessities", "critical") == 20
    assert rules.points_for("other", "normal") == 8


def test_unknowns_earn_the_default_points_and_no_multiplier() -> None:
    rules = PointsRules()
    assert rules.points_for(None, None) == 10
    assert rules.points_for("unheard_of", "high") == 15
    assert rules.points_for("medicine", "unheard_of") == 15


def test_an_operator_replaces_parts_of_the_table(monkeypatch) -> None:
    monkeypatch.setenv("VOLUNTEERS_POINTS_RULES", '{"default_points": 0, "category_points": {"medicine": 40}}')
    rules = VolunteersSettings().points_rules
    assert rules.points_for("medicine", "critical") == 80
    assert rules.points_for("other", "low") == 0  # the category table given replaces the whole default one
    assert rules.urgency_multiplier == PointsRules().urgency_multiplier

"""The points rules: what one completed assignment is worth.  Pure: no I/O.

The table below is the domain's default; an operator may replace any part of
it with VOLUNTEERS_POINTS_RULES (JSON of `PointsRules`, see settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_POINTS = 10
CATEGORY_POINTS: dict[str, int] = {
    "daily_necessities": 10,
    "protective_supplies": 10,
    "medicine": 15,
    "psychological_support": 15,
    "other": 8,
}
URGENCY_MULTIPLIER: dict[str, float] = {"low": 1.0, "normal": 1.0, "high": 1.5, "critical": 2.0}


class PointsRules(BaseModel):
    """Points for one completed assignment: the category's points (or
    `default_points`) times the urgency's multiplier, rounded."""

    default_points: int = Field(DEFAULT_POINTS, ge=0)
    category_points: dict[str, int] = Field(default_factory=lambda: dict(CATEGORY_POINTS))
    urgency_multiplier: dict[str, float] = Field(default_factory=lambda: dict(URGENCY_MULTIPLIER))

    def points_for(self, category: str | None, urgency: str | None) -> int:
        """Rounded half up (15 × 1.5 = 23); an unknown category earns the
        default points, an unknown urgency no multiplier."""
        base = self.category_points.get(category or "", self.default_points)
        return int(base * self.urgency_multiplier.get(urgency or "", 1.0) + 0.5)

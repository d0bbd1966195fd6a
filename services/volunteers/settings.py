from datetime import time

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class PointsRules(BaseModel):
    """Points for one completed assignment: the category's points (or
    `default_points`) times the urgency's multiplier, rounded."""

    default_points: int = Field(10, ge=0)
    category_points: dict[str, int] = Field(
        default_factory=lambda: {
            "daily_necessities": 10,
            "protective_supplies": 10,
            "medicine": 15,
            "psychological_support": 15,
            "other": 8,
        }
    )
    urgency_multiplier: dict[str, float] = Field(
        default_factory=lambda: {"low": 1.0, "normal": 1.0, "high": 1.5, "critical": 2.0}
    )

    def points_for(self, category: str | None, urgency: str | None) -> int:
        """Rounded half up (15 × 1.5 = 23)."""
        base = self.category_points.get(category or "", self.default_points)
        return int(base * self.urgency_multiplier.get(urgency or "", 1.0) + 0.5)


class VolunteersSettings(ServiceSettings):
    """Environment: VOLUNTEERS_* for these fields, plus the shared HEARTLINE_* / NATS_URL."""

    model_config = SettingsConfigDict(env_prefix="VOLUNTEERS_", extra="ignore", populate_by_name=True)

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///var/volunteers.db"
    default_timezone: str = Field("Asia/Shanghai", description="For teams created without one.")
    tasks_per_member: int = Field(
        1, ge=1, description="Open tasks one available member can carry (effective capacity)."
    )
    require_checkin: bool = Field(
        True, description="A member who has not checked in today is off duty."
    )
    duty_poll_seconds: float = Field(
        15.0, gt=0, description="How often the shift-boundary publisher looks for due teams."
    )
    checkin_reminder_at: time = Field(
        time(10, 0), description="Local time of day after which a missing check-in is reported."
    )
    coordinator_token_days: int = Field(30, ge=1, le=366, description="Lifetime of an issued coordinator token.")
    points_rules: PointsRules = Field(
        default_factory=PointsRules,
        description='JSON: {"default_points", "category_points": {category: n}, "urgency_multiplier": {urgency: x}}.',
    )

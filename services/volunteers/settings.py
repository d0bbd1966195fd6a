"""Volunteers' settings: one class, read from the environment."""

from datetime import time

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

from .points import PointsRules


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
    max_import_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest CSV import; bigger gets 413.")
    coordinator_token_hours: int = Field(8, ge=1, le=24 * 7, description="Lifetime of an issued coordinator token.")
    area_margin_km: float = Field(
        2.0, ge=0, le=50, description="How far a team's area may reach past its community's boundary."
    )
    form_pow_bits: int = Field(16, ge=0, le=28, description="Proof-of-work difficulty of the public forms.")
    form_token_seconds: int = Field(1800, ge=60, le=86400, description="How long a public form token lives.")
    form_rate_per_minute: int = Field(
        10, ge=1, description="Public form submissions per client address per minute."
    )
    personal_data_days: int = Field(
        90, ge=1, description="Days after a registration is decided (or a check-in made) that its personal data is kept."
    )
    retention_poll_seconds: float = Field(3600.0, gt=0, description="How often the retention job runs.")
    points_rules: PointsRules = Field(
        default_factory=PointsRules,
        description='JSON: {"default_points", "category_points": {category: n}, "urgency_multiplier": {urgency: x}}.',
    )

"""Intake's settings, read from the environment."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Environment: INTAKE_* for these fields, plus the shared HEARTLINE_* / NATS_URL."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///var/intake.db"
    public_base_url: str = Field(
        "http://127.0.0.1:8001", description="Where residents reach intake; QR codes point here."
    )
    rate_limit_per_second: float = Field(20.0, gt=0, description="Per partner, per replica.")
    rate_limit_burst: int = Field(60, ge=1)
    form_rate_limit_per_second: float = Field(
        0.2, gt=0, description="Per client address on the public form, per replica (not the partners' budget).")
    form_rate_limit_burst: int = Field(10, ge=1, description="Form submissions a client address may send at once.")
    form_pow_bits: int = Field(16, ge=0, le=28, description="Proof-of-work difficulty of the public form.")
    form_token_lifetime_seconds: int = Field(3600, ge=60, le=86400)
    community_cache_seconds: float = Field(
        10.0, ge=0, description="How long a replica trusts its in-memory communities before reloading them.")
    personal_data_days: float = Field(
        90.0, gt=0, description="Days after a request is closed or cancelled before its personal data is removed.")
    retention_poll_seconds: float = Field(
        3600.0, gt=0, description="How often personal data past its time and spent form tokens are removed.")
    partner_key_cache_seconds: float = Field(
        5.0, ge=0, description="How long a replica trusts a resolved API key (0: never).")
    duplicate_window_hours: float = Field(24.0, gt=0)
    duplicate_radius_m: float = Field(500.0, gt=0)
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_retry_base_seconds: float = Field(2.0, gt=0)
    webhook_retry_max_seconds: float = Field(600.0, gt=0)
    webhook_poll_seconds: float = Field(1.0, gt=0)

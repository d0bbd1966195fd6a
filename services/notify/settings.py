"""Notify's settings: providers, coordinators, templates, quiet hours, rate limits and retries."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Environment: NOTIFY_* for these fields, plus the shared HEARTLINE_* / NATS_URL.
    Secrets (the SMS URL, coordinator URLs, the inbound secret) are kept out of repr."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)  # inputs hold secrets

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///var/notify.db"
    sms_url: str | None = Field(
        None, repr=False,
        validation_alias=AliasChoices("HEARTLINE_SMS_URL", "NOTIFY_SMS_URL", "sms_url"),
        description="Apprise URL of the SMS gateway; {to} stands for the recipient's phone. "
        "Unset: messages are written to the log (development).",
    )
    max_attempts: int = Field(6, ge=1, description="Sends tried before a delivery is failed.")
    send_retry_base_seconds: float = Field(2.0, gt=0, description="First retry delay; doubles each time.")
    send_timeout_seconds: float = Field(10.0, gt=0, description="A provider slower than this has failed.")
    send_batch: int = Field(50, ge=1, le=1000, description="Deliveries the sender takes at once.")
    send_concurrency: int = Field(16, ge=1, le=256, description="Provider calls in flight at once.")

    # Who coordinators are: community -> apprise URL(s); "*" is everyone else.
    coordinator_urls: dict[str, list[str]] = Field(
        default_factory=dict, repr=False,
        description='JSON, e.g. {"*": ["mailto://..."], "wuhan-jianghan-01": ["dingtalk://..."]}.',
    )
    coordinator_locale: str = "zh-CN"

    templates_dir: Path | None = Field(
        None, description="Directory of <locale>/<name>.txt templates that replace the shipped ones."
    )
    sms_max_segments: int = Field(3, ge=1, le=10, description="Longer texts are shortened to fit.")

    # Quiet hours (local time in `timezone`): non-urgent messages wait until the end.
    quiet_start: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="e.g. 22:00")
    quiet_end: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="e.g. 07:00")
    timezone: str = Field("Asia/Shanghai", description="Quiet hours and times shown in messages.")

    # Messages per second per channel, enforced by each replica's sender.
    rate_per_second: dict[str, float] = Field(default_factory=lambda: {"sms": 20.0, "chat": 10.0})

    inbound_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of inbound webhooks (header X-Heartline-Signature)."
    )

    personal_data_days: float = Field(
        90, gt=0, description="Days after a request closes (or a message, reply or consent change) "
        "before names, phones, addresses and texts are removed; statistics stay.")
    retention_interval_seconds: float = Field(3600, gt=0, description="How often the retention job runs.")
    community_cache_seconds: float = Field(
        30, gt=0, description="How long a replica trusts its copy of the community tree "
        "(another replica may have applied a change).")

    @field_validator("coordinator_urls", mode="before")
    @classmethod
    def _one_url_is_a_list(cls, value):
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("coordinator_urls")
    @classmethod
    def _fits_a_delivery(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for community, urls in value.items():
            if len(", ".join(urls)) > 500:  # deliveries.address holds them all
                raise ValueError(f"the URLs of {community!r} are longer than 500 characters together")
        return value

"""Settings every service shares.  Each service subclasses `ServiceSettings`
with its own env prefix (INTAKE_, VOLUNTEERS_, ...) for its own fields; the
deployment-wide fields below keep their global names (NATS_URL, HEARTLINE_*)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Literal["development", "production"] = Field(
        "development",
        validation_alias=_env("HEARTLINE_ENV", "environment"),
        description="production refuses to start without real secrets.",
    )
    admin_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HEARTLINE_ADMIN_TOKEN", "admin_token"),
        description="Bearer token accepted by every service with full rights.",
    )
    token_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("HEARTLINE_TOKEN_SECRET", "token_secret"),
        description="Signs coordinator tokens (issued by volunteers, accepted everywhere).",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        validation_alias=_env("NATS_URL", "nats_url"),
        description="NATS server with JetStream.",
    )
    bus_prefix: str = Field(
        "",
        validation_alias=_env("HEARTLINE_BUS_PREFIX", "bus_prefix"),
        description="Prepended to every subject; lets two deployments share one NATS.",
    )
    stream_name: str = Field(
        "HEARTLINE",
        validation_alias=_env("HEARTLINE_STREAM", "stream_name"),
        description="JetStream stream over <prefix>aid.>; dead letters go to <name>_DEADLETTER.",
    )
    retention_days: float = Field(
        7.0,
        gt=0,
        validation_alias=_env("HEARTLINE_RETENTION_DAYS", "retention_days"),
        description="Published outbox rows and processed-event records are deleted after this long.",
    )
    max_deliver: int = Field(
        8,
        ge=1,
        validation_alias=_env("HEARTLINE_MAX_DELIVER", "max_deliver"),
        description="Deliveries of one event before it goes to the dead-letter stream.",
    )
    retry_base_seconds: float = Field(
        0.5,
        gt=0,
        validation_alias=_env("HEARTLINE_RETRY_BASE_SECONDS", "retry_base_seconds"),
        description="First retry delay of a failed handler; doubles each time, at most 60 s.",
    )
    db_pool_size: int = Field(
        20,
        ge=1,
        validation_alias=_env("HEARTLINE_DB_POOL_SIZE", "db_pool_size"),
        description="PostgreSQL connections a pool keeps open; size it to the calls in flight.",
    )
    db_max_overflow: int = Field(
        10,
        ge=0,
        validation_alias=_env("HEARTLINE_DB_MAX_OVERFLOW", "db_max_overflow"),
        description="Connections a busy pool may add, each closed after use (PostgreSQL forks a backend per new one).",
    )
    run_migrations: bool = Field(
        True,
        validation_alias=_env("HEARTLINE_RUN_MIGRATIONS", "run_migrations"),
        description="Apply Alembic migrations at start-up (off when a job runs them).",
    )
    max_body_bytes: int = Field(
        32 * 1024, ge=1024,
        validation_alias=_env("HEARTLINE_MAX_BODY_BYTES", "max_body_bytes"),
        description="Larger bodies get 413 before they are read (CSV imports have their own, larger limit).",
    )
    ops_endpoints: Literal["open", "admin", "off"] | None = Field(
        None,
        validation_alias=_env("HEARTLINE_OPS_ENDPOINTS", "ops_endpoints"),
        description="/docs, /openapi.json, /asyncapi.json and /metrics: open to anyone, admin token only, or "
        "not served. Default: open in development, admin in production.",
    )
    outbound_allowed_hosts: list[str] = Field(
        default_factory=list,
        validation_alias=_env("HEARTLINE_OUTBOUND_ALLOWED_HOSTS", "outbound_allowed_hosts"),
        description="Hosts (or host:port) a user-given URL may reach although they are not public addresses, "
        "and that json:// or form:// team chats may post to. JSON list.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        validation_alias=_env("HEARTLINE_TRUSTED_PROXIES", "trusted_proxies"),
        description="Networks of our own proxies (JSON list of CIDRs): only their X-Forwarded-For is believed.",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["CN"],
        validation_alias=_env("HEARTLINE_PHONE_REGIONS", "phone_regions"),
        description="Regions (ISO 3166) whose phone numbers the public forms take and SMS goes to. JSON list.",
    )
    host: str = "127.0.0.1"
    port: int

    @property
    def ops_access(self) -> Literal["open", "admin", "off"]:
        return self.ops_endpoints or ("admin" if self.environment == "production" else "open")

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> ServiceSettings:
        if self.token_secret is not None and len(self.token_secret.get_secret_value().encode()) < 32:
            raise ValueError("HEARTLINE_TOKEN_SECRET must be at least 32 bytes (it signs every coordinator token)")
        if self.environment == "production":
            for name, value in (("HEARTLINE_ADMIN_TOKEN", self.admin_token),
                                ("HEARTLINE_TOKEN_SECRET", self.token_secret)):
                if value is None or len(value.get_secret_value()) < 16 or "change" in value.get_secret_value():
                    raise ValueError(f"{name} must be set to a real secret (16+ chars) in production")
        return self

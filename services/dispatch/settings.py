"""Dispatch's settings: offer, wait and SLA deadlines by urgency, surge mode, the team index, routing."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    """Environment: DISPATCH_* for these fields, plus the shared HEARTLINE_* / NATS_URL."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore", populate_by_name=True)

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///var/dispatch.db"

    # How long a team has to answer an offer.
    offer_minutes_critical: float = Field(5, gt=0)
    offer_minutes_high: float = Field(15, gt=0)
    offer_minutes_normal: float = Field(60, gt=0)
    offer_minutes_low: float = Field(120, gt=0)

    # How long a request may wait for a team with free capacity before it is
    # escalated to coordinators ("no team with free capacity").
    wait_minutes_critical: float = Field(10, gt=0)
    wait_minutes_high: float = Field(30, gt=0)
    wait_minutes_normal: float = Field(120, gt=0)
    wait_minutes_low: float = Field(480, gt=0)

    # Service level: a team should have accepted the request by then.
    sla_minutes_critical: float = Field(30, gt=0)
    sla_minutes_high: float = Field(120, gt=0)
    sla_minutes_normal: float = Field(480, gt=0)
    sla_minutes_low: float = Field(1440, gt=0)

    # Surge mode: with at least this many queued requests, the sweeper assigns
    # a batch of them jointly (min-cost) instead of one by one.
    surge_threshold: int = Field(20, ge=2)
    surge_batch: int = Field(200, ge=2)
    sweep_seconds: float = Field(2.0, gt=0)
    # Escalated requests are matched again whenever teams change or capacity
    # frees up, and at least this often (a team may come on duty by its shift).
    escalated_retry_seconds: float = Field(30.0, gt=0)

    # Each replica's in-memory index of teams (team_index.py): reloaded from
    # the teams changed since the last reload this often; used only while its
    # last reload is at most team_index_max_age_seconds old (else the lookup
    # reads the database).  team_index=false: always the database.
    team_index: bool = True
    team_reload_seconds: float = Field(1.0, gt=0)
    team_index_max_age_seconds: float = Field(5.0, gt=0)

    # Travel time: an OSRM-compatible table service (e.g. http://osrm:5000);
    # unset, candidates are ranked by great-circle distance.
    routing_url: str | None = Field(None, description="OSRM-compatible /table/v1 service; ranks by travel time.")
    routing_profile: str = Field("driving", pattern=r"^[a-z_-]{1,32}$")
    routing_timeout_seconds: float = Field(1.0, gt=0, le=10)

    # Each replica's tree of communities (communities.py) is reloaded this often.
    community_reload_seconds: float = Field(5.0, gt=0)

    # Retention: this many days after a request finished (closed, cancelled,
    # done), its summary, exact location and people's words are removed;
    # category, community, times and outcome stay for the statistics.
    personal_data_days: float = Field(90, gt=0, le=36500)
    retention_sweep_seconds: float = Field(3600.0, gt=0)

    def offer_minutes(self, urgency: str) -> float:
        return getattr(self, f"offer_minutes_{urgency}")

    def wait_minutes(self, urgency: str) -> float:
        return getattr(self, f"wait_minutes_{urgency}")

    def sla_minutes(self, urgency: str) -> float:
        return getattr(self, f"sla_minutes_{urgency}")

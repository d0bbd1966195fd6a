"""Events about a volunteer team (aggregate: team)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from .envelope import Event, GeoPoint, Payload
from .requests import Category


class Leader(Payload):
    name: str
    phone: str = Field(description="E.164; notify needs it to reach the team.")


class TeamChangedData(Payload):
    team_id: UUID
    version: int = Field(ge=1, description="Increases with every change; apply only newer.")
    name: str
    community: str
    location: GeoPoint
    radius_km: float = Field(gt=0)
    skills: tuple[str, ...]
    categories: tuple[Category, ...] = Field(
        description="Request categories the team's skills can serve (volunteers' catalogue)."
    )
    area: dict[str, Any] | None = Field(
        None,
        description="Service area as a GeoJSON Polygon (holes allowed); when set it "
        "replaces the circle of radius_km around location.",
    )
    capacity: int = Field(
        ge=0,
        description="Open tasks the team can hold at once now: after members who are "
        "off shift, unwell or not checked in today are taken out.",
    )
    on_duty: bool = Field(True, description="Someone in the team is on shift now.")
    next_change_at: datetime | None = Field(
        None, description="When on_duty or capacity will next change by the schedule alone."
    )
    status: Literal["active", "paused", "deleted"]
    chat_url: str | None = None
    leader: Leader


class TeamChangedV1(Event):
    """A team was created or changed; carries the whole current state."""

    type: Literal["aid.team.changed.v1"] = "aid.team.changed.v1"
    data: TeamChangedData

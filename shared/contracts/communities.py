"""Events about a community (grid) and the districts and cities above it (aggregate: community).

Volunteers owns communities; intake, dispatch and notify keep read models of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .envelope import Event, Payload


class CommunityChangedData(Payload):
    code: str = Field(description="Stable code, e.g. wuhan-jianghan-01; what requests and teams name.")
    version: int = Field(ge=1, description="Increases with every change; apply only newer.")
    level: Literal["city", "district", "community"]
    parent: str | None = Field(None, description="Code of the district or city this one belongs to.")
    name_zh: str
    name_en: str
    timezone: str = Field(description="IANA name: shifts and quiet hours are in this zone.")
    boundary: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon or MultiPolygon (lon, lat); a district may have none.")
    hotline: str | None = Field(None, description="E.164 number residents of this community call.")
    status: Literal["active", "retired"]
    changed_at: datetime


class CommunityChangedV1(Event):
    """A community, district or city was created or changed; carries its whole current state."""

    type: Literal["aid.community.changed.v1"] = "aid.community.changed.v1"
    data: CommunityChangedData

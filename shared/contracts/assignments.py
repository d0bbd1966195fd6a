"""Events about an assignment of a request to a team (aggregate: assignment)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from .envelope import Event, GeoPoint, Payload
from .requests import Category, Urgency


class AssignmentOfferedData(Payload):
    assignment_id: UUID
    request_id: UUID
    team_id: UUID
    category: Category
    urgency: Urgency
    summary: str
    location: GeoPoint
    distance_km: float
    offer_expires_at: datetime


class AssignmentOfferedV1(Event):
    """Dispatch offered a request to a team; the team has until the deadline."""

    type: Literal["aid.assignment.offered.v1"] = "aid.assignment.offered.v1"
    data: AssignmentOfferedData

"""Events about volunteers as people (aggregate: member).  They carry contact
details only because notify must reach the member."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from .envelope import Event, Payload


class CheckinMissingData(Payload):
    member_id: UUID
    team_id: UUID | None = None
    name: str
    phone: str = Field(description="E.164")
    locale: Literal["zh-CN", "en"] = "zh-CN"
    day: date


class MemberCheckinMissingV1(Event):
    """A member has not done today's health check-in by the reminder time."""

    type: Literal["aid.member.checkin_missing.v1"] = "aid.member.checkin_missing.v1"
    data: CheckinMissingData

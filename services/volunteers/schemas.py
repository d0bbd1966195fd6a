"""Volunteers' HTTP shapes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.phones import E164_PATTERN, parse_phone

from .areas import MAX_RADIUS_KM, polygon_problems
from .skills import SKILL_CATEGORIES

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
Duty = Literal["police_liaison", "property_liaison", "sourcing", "delivery", "distribution",
               "counselling", "coordination", "other"]
CheckinStatus = Literal["ok", "unwell", "quarantine"]
MAX_INTERVAL = timedelta(days=31)


def storable(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL and a lone surrogate cannot be encoded:
    a string anywhere in an input (lists and GeoJSON included) with either is
    a 422 naming the field, not a 500 from the database."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key), storable(item)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _storable = field_validator("*")(storable)


def optional_phone(phone: str | None) -> str | None:
    return None if phone is None else parse_phone(phone)


def _known_skills(skills: list[str]) -> list[str]:
    unknown = sorted(set(skills) - SKILL_CATEGORIES.keys())
    if unknown:
        raise ValueError(f"unknown skills {unknown}; known: {sorted(SKILL_CATEGORIES)}")
    return sorted(set(skills))


def zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from None
    return name


def _area(area: dict | None) -> dict | None:
    if area is None:
        return None
    problems = polygon_problems(area)
    if problems:
        raise ValueError("; ".join(problems))
    return area


class LocationIn(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class LeaderIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(pattern=E164_PATTERN)

    _phone = field_validator("phone")(parse_phone)


# --- schedule ---------------------------------------------------------------


class WeeklyShiftIn(Strict):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: str = Field(pattern=HHMM, description="Local HH:MM")
    end: str = Field(pattern=HHMM, description="Local HH:MM; at or before start = crosses midnight")
    group: str | None = Field(None, min_length=1, max_length=20)
    every_weeks: int = Field(1, ge=1, le=4, description="2 = every other week (rotation)")
    anchor: date | None = Field(None, description="A day in a week the shift happens (every_weeks > 1)")


class IntervalIn(Strict):
    starts_at: datetime = Field(description="ISO; without an offset it is read in the team's time zone")
    ends_at: datetime
    group: str | None = Field(None, min_length=1, max_length=20)
    reason: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> IntervalIn:
        naive = [d.tzinfo is None for d in (self.starts_at, self.ends_at)]
        if naive[0] != naive[1]:
            raise ValueError("starts_at and ends_at must both carry an offset or both not")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_INTERVAL:
            raise ValueError("an interval may last at most 31 days")
        return self


class ScheduleIn(Strict):
    weekly: list[WeeklyShiftIn] = Field(default_factory=list, max_length=200)
    one_off: list[IntervalIn] = Field(default_factory=list, max_length=500)
    exceptions: list[IntervalIn] = Field(default_factory=list, max_length=500)


class ScheduleOut(ScheduleIn):
    model_config = ConfigDict(extra="ignore")
    timezone: str


class DutyOut(BaseModel):
    at: datetime
    on_duty: bool
    capacity: int
    available_members: int
    next_change_at: datetime | None


# --- teams ------------------------------------------------------------------


class TeamIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    community: str = Field(min_length=1, max_length=64)
    location: LocationIn
    radius_km: float = Field(gt=0, le=MAX_RADIUS_KM)
    area: dict | None = Field(None, description="GeoJSON Polygon (holes allowed); replaces the radius circle")
    skills: list[str] = Field(min_length=1)
    capacity: int = Field(ge=0, le=1000, description="Nominal: open tasks at once at full strength")
    chat_url: str | None = Field(None, max_length=500, description="One apprise URL of a team chat; write-only")
    leader: LeaderIn
    status: Literal["active", "paused"] = "active"
    timezone: str | None = Field(None, description="IANA zone of the community; default from settings")
    schedule: ScheduleIn | None = None

    _skills = field_validator("skills")(_known_skills)
    _area = field_validator("area")(_area)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, name: str | None) -> str | None:
        return None if name is None else zone(name)


class TeamPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    location: LocationIn | None = None
    radius_km: float | None = Field(None, gt=0, le=MAX_RADIUS_KM)
    area: dict | None = None
    skills: list[str] | None = Field(None, min_length=1)
    capacity: int | None = Field(None, ge=0, le=1000)
    chat_url: str | None = Field(None, max_length=500)
    leader: LeaderIn | None = None
    status: Literal["active", "paused"] | None = None
    timezone: str | None = None

    _area = field_validator("area")(_area)

    @field_validator("skills")
    @classmethod
    def _skills(cls, skills: list[str] | None) -> list[str] | None:
        return None if skills is None else _known_skills(skills)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, name: str | None) -> str | None:
        return None if name is None else zone(name)


class LeaderOut(BaseModel):
    name: str
    phone: str


class TeamOut(BaseModel):
    id: UUID
    version: int
    name: str
    community: str
    location: LocationIn
    radius_km: float
    area: dict | None
    skills: list[str]
    categories: list[str]
    capacity: int = Field(description="Nominal capacity")
    effective_capacity: int = Field(description="After shifts and health, as last published")
    on_duty: bool
    next_change_at: datetime | None
    timezone: str
    status: str
    has_chat: bool = Field(description="Whether a chat URL is set (the URL itself is write-only)")
    leader: LeaderOut
    created_at: datetime
    updated_at: datetime


class SkillOut(BaseModel):
    skill: str
    categories: list[str]


# --- members ----------------------------------------------------------------


class MemberIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(max_length=30)
    skills: list[str] = Field(default_factory=list)
    duty: Duty | None = None
    group: str | None = Field(None, min_length=1, max_length=20, description="Shift group, e.g. A or B")
    active: bool = True
    locale: Literal["zh-CN", "en"] = "zh-CN"

    _skills = field_validator("skills")(_known_skills)
    _phone = field_validator("phone")(parse_phone)


class MemberPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=30)
    skills: list[str] | None = None
    duty: Duty | None = None
    group: str | None = Field(None, min_length=1, max_length=20)
    active: bool | None = None
    locale: Literal["zh-CN", "en"] | None = None

    @field_validator("skills")
    @classmethod
    def _skills(cls, skills: list[str] | None) -> list[str] | None:
        return None if skills is None else _known_skills(skills)

    _phone = field_validator("phone")(optional_phone)


class CheckinOut(BaseModel):
    day: date
    status: CheckinStatus
    channel: str
    checked_at: datetime


class MemberOut(BaseModel):
    id: UUID
    team_id: UUID
    name: str
    phone: str = Field(description="Masked unless the caller coordinates the member's community")
    skills: list[str]
    duty: str | None
    group: str | None
    active: bool
    locale: str
    last_checkin: CheckinOut | None
    fit: bool = Field(description="Counts as healthy today under the check-in rule")
    checkin_url: str | None = Field(None, description="The member's own check-in form (coordinators only)")
    created_at: datetime
    updated_at: datetime


class MoveIn(Strict):
    team_id: UUID
    reason: str | None = Field(None, max_length=500)


class MoveOut(BaseModel):
    id: UUID
    member_id: UUID
    from_team_id: UUID | None
    to_team_id: UUID
    reason: str | None
    moved_by: str
    moved_at: datetime


class CheckinIn(Strict):
    status: CheckinStatus


# --- points -------------------------------------------------------------------


class AdjustmentIn(Strict):
    points: int = Field(ge=-10000, le=10000, description="Positive to add, negative to take away")
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("points")
    @classmethod
    def _not_zero(cls, points: int) -> int:
        if points == 0:
            raise ValueError("an adjustment of 0 points changes nothing")
        return points


class LedgerEntryOut(BaseModel):
    id: UUID
    member_id: UUID
    team_id: UUID | None
    community: str
    points: int
    reason: str
    source_key: str
    created_by: str
    created_at: datetime


class PointsOut(BaseModel):
    member_id: UUID
    total: int
    entries: list[LedgerEntryOut]


class LeaderOutRow(BaseModel):
    rank: int
    member_id: UUID
    name: str
    team_id: UUID
    points: int


# --- self-registration ----------------------------------------------------------


class RegistrationIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(max_length=30)
    skills: list[str] = Field(default_factory=list)
    community: str = Field(min_length=1, max_length=64)
    availability: str | None = Field(None, max_length=500, description="e.g. weekday evenings")

    _skills = field_validator("skills")(_known_skills)
    _phone = field_validator("phone")(parse_phone)


class FormProof(Strict):
    form_token: str = Field(max_length=512, description="From GET /v1/form-token?form=registration")
    pow: str = Field(max_length=32, description="The proof of work for form_token (see /static/pow.js)")


class RegistrationDoorIn(RegistrationIn, FormProof):
    """A public registration with its form token and proof of work."""


class RegistrationReceivedOut(BaseModel):
    status: Literal["received"]
    community: str
    detail: str


class FormTokenOut(BaseModel):
    token: str
    bits: int


class RegistrationOut(BaseModel):
    id: UUID
    name: str
    phone: str
    skills: list[str]
    community: str
    availability: str | None
    status: str
    reason: str | None
    member_id: UUID | None
    team_id: UUID | None
    created_at: datetime
    decided_at: datetime | None


class ApproveIn(Strict):
    team_id: UUID
    duty: Duty | None = None
    group: str | None = Field(None, min_length=1, max_length=20)


class RejectIn(Strict):
    reason: str = Field(min_length=3, max_length=500)

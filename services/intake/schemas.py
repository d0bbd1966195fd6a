"""Intake's HTTP shapes (the partner contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.contracts import Category, Locale, Urgency
from shared.contracts.requests import Source, Vulnerability
from shared.phones import parse_phone

# What a requester sees; dispatch's finer lifecycle maps onto it.
PublicStatus = Literal[
    "received", "assigned", "in_progress", "done", "closed", "cancelled", "escalated"
]
Channel = Literal["sms", "phone_call"]
COMMUNITY_CODE = r"^[a-z0-9][a-z0-9-]{1,63}$"


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
CommunityCode = Annotated[str, Field(pattern=COMMUNITY_CODE,
                                     description="Lower-case letters, digits and dashes.")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LocationIn(Strict):
    """Either coordinates, or an address with the code of a community in the
    catalogue (a point inside it is used).  Both may be given; without a
    community, the one whose boundary holds the point is taken."""

    lat: Latitude | None = None
    lon: Longitude | None = None
    address: Text | None = Field(None, min_length=1, max_length=300)
    community: CommunityCode | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> LocationIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.lat is None and (self.community is None or self.address is None):
            raise ValueError("give lat and lon, or an address with a community code")
        return self


class RequesterIn(Strict):
    name: Text = Field(min_length=1, max_length=100)
    phone: Text = Field(max_length=32, description="E.164, e.g. +8613800138000",
                        examples=["+8613800138000"])
    locale: Locale = "zh-CN"
    preferred_channel: Channel | None = Field(
        None, description="sms, or phone_call (a coordinator calls back). Defaults to "
                          "phone_call for someone with no smartphone, else sms.")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return parse_phone(value)


_EXAMPLE_REQUEST: dict[str, Any] = {
    "category": "medicine",
    "description": "Needs insulin delivered; lives alone on the 6th floor",
    "location": {"lat": 30.595, "lon": 114.3},
    "requester": {"name": "Li Na", "phone": "+8613800138000", "locale": "zh-CN",
                  "preferred_channel": "sms"},
    "urgency": "high",
    "vulnerabilities": ["elderly_alone"],
    "people": 1,
    "source": "partner",
    "external_id": "app-10231",
}


class RequestIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_REQUEST]})

    category: Category
    description: Text = Field(min_length=1, max_length=2000)
    location: LocationIn
    requester: RequesterIn
    urgency: Urgency = "normal"
    vulnerabilities: list[Vulnerability] = Field(default_factory=list, max_length=4)
    people: int = Field(1, ge=1, le=1000, description="How many people the request is for.")
    source: Source = "partner"
    external_id: Text | None = Field(None, min_length=1, max_length=100)


class HotlineCallIn(Strict):
    """A request a hotline operator files on a caller's behalf."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "operator_id": "desk-7", "call_at": "2024-01-05T21:40:00+08:00",
        "category": "daily_necessities", "description": "No rice or oil left at home",
        "location": {"address": "Bldg 5, Unit 2, 301", "community": "jianghan-01"},
        "caller": {"name": "Wang Fang", "phone": "+8613912345678"},
        "vulnerabilities": ["elderly_alone", "no_smartphone"], "notes": "Hard of hearing",
    }]})

    operator_id: Text = Field(min_length=1, max_length=64)
    call_at: datetime = Field(description="When the call came in (with a UTC offset).")
    category: Category
    description: Text = Field(min_length=1, max_length=2000)
    location: LocationIn
    caller: RequesterIn
    urgency: Urgency = "normal"
    vulnerabilities: list[Vulnerability] = Field(default_factory=list, max_length=4)
    people: int = Field(1, ge=1, le=1000)
    notes: Text | None = Field(None, max_length=4000, description="The operator's notes.")
    external_id: Text | None = Field(None, min_length=1, max_length=100,
                                     description="The desk's own call number, if any.")

    @field_validator("call_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2024-01-05T09:30:00+08:00")
        return value


class StatusChangeOut(BaseModel):
    status: PublicStatus
    at: datetime
    reason: str | None = None


class FeedbackOut(BaseModel):
    rating: int
    comment: str | None
    channel: str
    at: datetime


class HotlineOut(BaseModel):
    operator_id: str
    call_at: datetime | None
    notes: str | None


class RequestOut(BaseModel):
    id: UUID
    reference: str
    status: PublicStatus
    category: Category
    needs_volunteer: bool
    urgency: Urgency
    source: Source
    community: str | None = None
    people: int = 1
    vulnerabilities: list[Vulnerability] = []
    external_id: str | None
    possible_duplicate_of: UUID | None = Field(
        None, description="An earlier request this one likely repeats (same phone, category, place).")
    received_at: datetime
    updated_at: datetime
    expected_by: datetime | None = Field(
        None, description="When the requester was promised a team by (dispatch's SLA); null until dispatch has said.")
    history: list[StatusChangeOut]
    feedback: FeedbackOut | None = None
    hotline: HotlineOut | None = Field(None, description="Set when a hotline operator filed it.")


class CancelIn(Strict):
    reason: Text | None = Field(None, max_length=500)


class FeedbackIn(Strict):
    rating: int = Field(ge=1, le=5)
    comment: Text | None = Field(None, max_length=2000)


class CategoryOut(BaseModel):
    code: str
    name: dict[str, str]
    needs_volunteer: bool


class CommunityOut(BaseModel):
    """A community from volunteers' catalogue, with its QR form's URL."""

    code: str
    parent: str | None = None
    name: dict[str, str] = Field(description="zh-CN and en")
    timezone: str
    hotline: str | None = None
    lat: float | None = Field(None, description="A point inside the boundary.")
    lon: float | None = None
    form_url: str


class PartnerIn(Strict):
    name: Text = Field(min_length=1, max_length=100)


class PartnerOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    webhook_url: str | None = None


class PartnerKeyOut(BaseModel):
    id: UUID
    partner_id: UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    key: str | None = Field(None, description="Shown once, when the key is created; stored hashed.")


class WebhookIn(Strict):
    url: AnyHttpUrl = Field(description="http(s) URL that receives every status change.")

    @field_validator("url")
    @classmethod
    def _short(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(value)) > 500:
            raise ValueError("must be at most 500 characters")
        return value


class WebhookOut(BaseModel):
    url: str
    secret: str | None = Field(None, description="Signs deliveries; shown when registered.")
    signature: str = ("Heartline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                      "'<t>.<body>' with the secret>")


class DeliveryOut(BaseModel):
    id: UUID
    request_id: UUID
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict

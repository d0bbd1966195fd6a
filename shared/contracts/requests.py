"""Events about a request for help (aggregate: request)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from .envelope import Event, GeoPoint, Payload

Category = Literal[
    "daily_necessities",
    "protective_supplies",
    "medicine",
    "psychological_support",
    "policy_question",
    "suggestion",
    "thanks",
    "other",
]
Urgency = Literal["low", "normal", "high", "critical"]
Locale = Literal["zh-CN", "en"]
Vulnerability = Literal["elderly_alone", "disabled", "isolated", "no_smartphone"]
Source = Literal["partner", "hotline", "sms", "qr", "outreach"]

# Dispatch's lifecycle of a request; intake maps it to what a requester sees.
RequestStatus = Literal[
    "queued",
    "offered",
    "accepted",
    "in_progress",
    "done",
    "closed",
    "cancelled",
    "escalated",
]


class Requester(Payload):
    name: str
    phone: str = Field(description="E.164, e.g. +8613800138000")
    locale: Locale = "zh-CN"
    preferred_channel: Literal["sms", "phone_call"] = Field(
        "sms", description="phone_call: a coordinator calls (no phone that reads SMS)."
    )


class RequestReceivedData(Payload):
    request_id: UUID
    reference: str = Field(description="Short number a requester can quote on the phone.")
    category: Category
    needs_volunteer: bool
    description: str
    location: GeoPoint
    community: str | None = None
    urgency: Urgency
    vulnerabilities: tuple[Vulnerability, ...] = ()
    people: int = Field(1, ge=1, description="How many people the request is for.")
    source: Source = "partner"
    requester: Requester
    external_id: str | None = None
    partner_id: str | None = None
    received_at: datetime


class RequestReceivedV1(Event):
    """Intake accepted a request for help and stored it."""

    type: Literal["aid.request.received.v1"] = "aid.request.received.v1"
    data: RequestReceivedData


class RequestCancelledData(Payload):
    request_id: UUID
    cancelled_by: Literal["requester", "partner", "coordinator"]
    reason: str | None = None
    cancelled_at: datetime


class RequestCancelledV1(Event):
    """The requester (through a partner or a coordinator) withdrew a request."""

    type: Literal["aid.request.cancelled.v1"] = "aid.request.cancelled.v1"
    data: RequestCancelledData


class RequestFeedbackGivenData(Payload):
    request_id: UUID
    rating: int = Field(ge=1, le=5)
    comment: str | None = None
    channel: Literal["api", "sms", "chat", "form"]
    given_at: datetime


class RequestFeedbackGivenV1(Event):
    """The requester confirmed and rated a done request (through intake's API,
    or by an SMS reply that notify relays).  Dispatch closes the request."""

    type: Literal["aid.request.feedback_given.v1"] = "aid.request.feedback_given.v1"
    data: RequestFeedbackGivenData


class RequestStatusChangedData(Payload):
    request_id: UUID
    status: RequestStatus
    previous_status: RequestStatus | None = None
    sequence: int = Field(ge=1, description="Increases with every change of this request.")
    team_id: UUID | None = None
    assignment_id: UUID | None = None
    community: str | None = Field(None, description="Of the team, or where the request is.")
    reason: str | None = None
    changed_at: datetime
    expected_by: datetime | None = Field(
        None, description="When the requester was promised a team by: received + the SLA of its urgency "
        "(dispatch's table). The one time every service tells the requester.")


class RequestStatusChangedV1(Event):
    """Dispatch moved a request to a new state of its lifecycle."""

    type: Literal["aid.request.status_changed.v1"] = "aid.request.status_changed.v1"
    data: RequestStatusChangedData


class RequestSlaBreachedData(Payload):
    request_id: UUID
    status: RequestStatus = Field(description="Where the request stood when its deadline passed.")
    urgency: Urgency
    community: str | None = None
    due_at: datetime = Field(description="When a team should have accepted it by.")
    breached_at: datetime


class RequestSlaBreachedV1(Event):
    """Dispatch: no team accepted a request within its urgency's service level."""

    type: Literal["aid.request.sla_breached.v1"] = "aid.request.sla_breached.v1"
    data: RequestSlaBreachedData

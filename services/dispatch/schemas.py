"""Dispatch's HTTP shapes (the coordinators' API)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts import GeoPoint, RequestStatus


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL: a 422 naming the field, not a 500 from the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text that is stored.
Text = Annotated[str, AfterValidator(_storable)]


class AssignmentOut(BaseModel):
    id: UUID
    request_id: UUID
    team_id: UUID
    state: str
    distance_km: float
    offered_at: datetime
    offer_expires_at: datetime
    decided_at: datetime | None


class AuditOut(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    at: datetime


class RequestOut(BaseModel):
    id: UUID
    reference: str
    status: RequestStatus
    status_reason: str | None
    category: str
    urgency: str
    vulnerabilities: list[str] = []
    people: int = 1
    source: str | None = None
    community: str | None = None
    widened: bool = False
    location: GeoPoint
    received_at: datetime
    updated_at: datetime
    sla_due_at: datetime | None = None
    sla_breached_at: datetime | None = None
    assignment: AssignmentOut | None
    history: list[AuditOut]


class NoteOut(BaseModel):
    id: int
    author: str
    text: str
    at: datetime


class HistoryOut(BaseModel):
    """One request's whole story: status changes (who, when, why), every
    offer and task, and coordinators' notes."""

    request: RequestOut
    assignments: list[AssignmentOut]
    notes: list[NoteOut]


class CandidateOut(BaseModel):
    team_id: UUID
    name: str
    community: str
    distance_km: float
    travel_minutes: float | None = Field(
        None, description="From the routing provider, when one is configured and answered; "
                          "the ranking follows it, else distance.")
    open_tasks: int
    capacity: int


class ExclusionOut(BaseModel):
    team_id: UUID
    name: str
    community: str
    distance_km: float
    reason: str = Field(description="other_community | outside_area | no_skill | inactive | off_duty | no_capacity "
                                    "| already_tried")


class CandidatesOut(BaseModel):
    request_id: UUID
    widened: bool
    candidates: list[CandidateOut]
    excluded: list[ExclusionOut]
    escalation_reason: str | None = Field(None, description="Why nobody can take it now, if nobody can.")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text | None = Field(None, max_length=500)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=500)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team_id: UUID
    reason: Text = Field(min_length=1, max_length=500)
    override_capacity: bool = Field(False, description="Assign even if the team is at capacity (audited).")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=2000)

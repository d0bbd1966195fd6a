"""Notify's HTTP shapes."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from shared.phones import E164_PATTERN, parse_phone


def _e164(raw: str) -> str:
    try:
        return parse_phone(raw)
    except ValueError as exc:  # shared.phones' own wording, without pydantic's "Value error, "
        raise PydanticCustomError("phone", str(exc)) from None


# A phone number as it comes in over HTTP: parse_phone is the check, the pattern only documents the shape.
E164Phone = Annotated[str, AfterValidator(_e164)]
PHONE_SCHEMA: JsonDict = {"pattern": E164_PATTERN}


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL: a 422 naming the field, not a 500 from the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text that is stored.
Text = Annotated[str, AfterValidator(_storable)]


class DeliveryOut(BaseModel):
    """One message.  The address is never shown (a phone is masked, a chat URL
    is a secret); `to` only tells messages apart."""

    id: UUID
    cause_type: str
    request_id: UUID | None
    recipient: str
    channel: str
    to: str
    status: str
    attempts: int
    last_error: str | None
    body: str
    locale: str | None = None
    template: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    sent_at: datetime | None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool
    preferred_channel: Literal["sms", "phone_call"] | None = Field(
        None, description="phone_call: messages go to a coordinator, who calls."
    )
    reason: Text | None = Field(None, max_length=500, description="Why (a coordinator must say).")


class ConsentOut(BaseModel):
    phone: str
    opted_out: bool
    preferred_channel: str | None
    changed_via: str | None
    changed_at: datetime | None


class ConsentChangeOut(BaseModel):
    """One change of a number's consent: `changed_by` is a coordinator's or
    admin's name, or "sender" for the number's own STOP/START."""

    opted_out: bool
    preferred_channel: str | None
    changed_via: str
    changed_by: str
    role: str
    reason: str | None
    changed_at: datetime


class TeamKeyOut(BaseModel):
    """The key a team's chat bot signs its replies with (HMAC-SHA256, see the inbound webhooks)."""

    team_id: UUID
    key: str


class InboundSms(BaseModel):
    """A generic SMS gateway's webhook body (JSON or form).  Twilio-style
    names (From, Body, MessageSid) are accepted too."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    sender: E164Phone = Field(alias="from", description="E.164")
    text: Text = Field(min_length=1, max_length=1600)
    id: Text | None = Field(None, max_length=100, description="The provider's message id (de-duplicates).")


class InboundChat(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    text: Text = Field(min_length=1, max_length=4000)
    id: Text | None = Field(None, max_length=100)


class InboundOut(BaseModel):
    outcome: str

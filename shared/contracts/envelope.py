"""The envelope every Heartline event travels in.

Events follow the CloudEvents 1.0 attribute names (structured JSON mode): the
envelope says what happened, who said so, when, and which conversation it
belongs to; `data` carries the domain payload.  Each concrete event is a frozen
model whose `type` is its versioned subject, e.g. ``aid.request.received.v1``.
Changing what a field means needs a new version (a new class), never an edit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every event payload: immutable; unknown fields are ignored so
    a consumer keeps working while a producer rolls out an additive change."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class GeoPoint(Payload):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Event(BaseModel):
    """CloudEvents-shaped envelope.  `id` is also the NATS `Nats-Msg-Id`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: str = "1.0"
    id: UUID = Field(default_factory=uuid4)
    type: str = Field(description="The versioned subject, aid.<aggregate>.<event>.v<N>.")
    source: str = Field(description="The producing service, e.g. 'heartline/intake'.")
    time: datetime = Field(default_factory=utcnow)
    correlationid: str = Field(
        description="Ties together every event caused by one request for help."
    )
    datacontenttype: str = "application/json"
    data: Any

    @classmethod
    def type_name(cls) -> str:
        """The event's versioned type, which is also its NATS subject."""
        name: str = cls.model_fields["type"].default
        return name

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.type_name()
        parts = (name or "").split(".")
        if len(parts) != 4 or parts[0] != "aid" or not re.fullmatch(r"v\d+", parts[3]):
            raise TypeError(f"{cls.__name__}: type must be aid.<aggregate>.<event>.v<N>")
        if not cls.__name__.endswith(f"V{parts[3][1:]}"):
            raise TypeError(f"{cls.__name__}: class name must carry the version {parts[3]}")

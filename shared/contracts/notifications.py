"""Events about messages sent to people (aggregate: notification)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from .envelope import Event, Payload


class NotificationDeliveredData(Payload):
    delivery_id: UUID
    cause_event_id: UUID
    request_id: UUID | None = None
    recipient: Literal["requester", "team", "coordinator", "member"]
    channel: Literal["sms", "chat"]
    status: Literal["sent", "failed"]
    attempts: int
    delivered_at: datetime


class NotificationDeliveredV1(Event):
    """Notify handed a message to its provider (or gave up on it)."""

    type: Literal["aid.notification.delivered.v1"] = "aid.notification.delivered.v1"
    data: NotificationDeliveredData

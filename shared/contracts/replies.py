"""Replies that team leaders send back by SMS or chat, as notify understood
them (aggregate: assignment).  Requesters' ratings travel as
`aid.request.feedback_given.v1`; opt-outs stay inside notify."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from .envelope import Event, Payload


class AssignmentRepliedData(Payload):
    assignment_id: UUID
    team_id: UUID
    action: Literal["accept", "decline", "complete"]
    channel: Literal["sms", "chat"]
    received_at: datetime


class AssignmentRepliedV1(Event):
    """A team leader answered an offer or reported a task done by SMS or chat."""

    type: Literal["aid.assignment.replied.v1"] = "aid.assignment.replied.v1"
    data: AssignmentRepliedData

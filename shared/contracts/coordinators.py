"""Events about a coordinator's access (aggregate: coordinator)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .envelope import Event, Payload


class TokenRevokedData(Payload):
    token_id: str = Field(description="The `jti` of the revoked token.")
    subject: str = Field(description="Whose token it was, e.g. coordinator:<id>.")
    expires_at: datetime = Field(description="When the token would have expired: the deny-list entry may go then.")
    revoked_at: datetime


class CoordinatorTokenRevokedV1(Event):
    """A coordinator token stops working everywhere before its expiry (signed out, or access withdrawn)."""

    type: Literal["aid.coordinator.token_revoked.v1"] = "aid.coordinator.token_revoked.v1"
    data: TokenRevokedData

"""Heartline's wire contracts: every event on the bus, in one place.

One module per aggregate (requests, teams, assignments, ...); one frozen model
per event, versioned in its class name and its type (= NATS subject).
`EVENTS` maps each type to its model and is collected from the modules here,
so a new event only needs its class.  The contract test snapshots each
model's JSON schema in `schemas/`.
"""

import importlib
import pkgutil

from .envelope import Event, GeoPoint, Payload

_TOOLS = {"envelope", "snapshot"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _TOOLS:
        importlib.import_module(f"{__name__}.{_module.name}")


def _all_events(cls: type[Event]) -> list[type[Event]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_events(sub))
    return found


EVENTS: dict[str, type[Event]] = {cls.type_name(): cls for cls in _all_events(Event)}

from .assignments import AssignmentOfferedData, AssignmentOfferedV1  # noqa: E402
from .communities import CommunityChangedData, CommunityChangedV1  # noqa: E402
from .coordinators import CoordinatorTokenRevokedV1, TokenRevokedData  # noqa: E402
from .members import CheckinMissingData, MemberCheckinMissingV1  # noqa: E402
from .notifications import NotificationDeliveredData, NotificationDeliveredV1  # noqa: E402
from .replies import AssignmentRepliedData, AssignmentRepliedV1  # noqa: E402
from .requests import (  # noqa: E402
    Category,
    Locale,
    RequestCancelledData,
    RequestCancelledV1,
    Requester,
    RequestFeedbackGivenData,
    RequestFeedbackGivenV1,
    RequestReceivedData,
    RequestReceivedV1,
    RequestSlaBreachedData,
    RequestSlaBreachedV1,
    RequestStatus,
    RequestStatusChangedData,
    RequestStatusChangedV1,
    Source,
    Urgency,
    Vulnerability,
)
from .teams import Leader, TeamChangedData, TeamChangedV1  # noqa: E402

__all__ = [
    "EVENTS",
    "AssignmentOfferedData",
    "AssignmentOfferedV1",
    "AssignmentRepliedData",
    "AssignmentRepliedV1",
    "Category",
    "CheckinMissingData",
    "CommunityChangedData",
    "CommunityChangedV1",
    "CoordinatorTokenRevokedV1",
    "Event",
    "GeoPoint",
    "Leader",
    "Locale",
    "MemberCheckinMissingV1",
    "NotificationDeliveredData",
    "NotificationDeliveredV1",
    "Payload",
    "Requester",
    "RequestCancelledData",
    "RequestCancelledV1",
    "RequestFeedbackGivenData",
    "RequestFeedbackGivenV1",
    "RequestReceivedData",
    "RequestReceivedV1",
    "RequestSlaBreachedData",
    "RequestSlaBreachedV1",
    "RequestStatus",
    "RequestStatusChangedData",
    "RequestStatusChangedV1",
    "TeamChangedData",
    "TeamChangedV1",
    "TokenRevokedData",
    "Source",
    "Urgency",
    "Vulnerability",
]

"""Notify's bus subscribers: thin doors into the use cases."""

from shared.contracts import (
    AssignmentOfferedV1,
    AssignmentRepliedV1,
    MemberCheckinMissingV1,
    NotificationDeliveredV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.contracts.requests import RequestSlaBreachedV1
from shared.runtime import Runtime

from . import service
from .service import Notifier


def register(runtime: Runtime, notifier: Notifier) -> None:
    bus = runtime.bus

    async def once(consumer: str, event, use_case) -> None:
        await runtime.once(consumer, event, lambda session: use_case(session, notifier, event))

    @bus.subscriber("requests", RequestReceivedV1, "Confirms receipt to the requester by SMS.")
    async def on_request_received(event: RequestReceivedV1) -> None:
        await once("notify-requests", event, service.on_request_received)

    @bus.subscriber("teams", TeamChangedV1, "Keeps the teams' chat and leader contacts.")
    async def on_team_changed(event: TeamChangedV1) -> None:
        await once("notify-teams", event, service.on_team_changed)

    @bus.subscriber("offers", AssignmentOfferedV1, "Tells a team about an offer in its chat.")
    async def on_assignment_offered(event: AssignmentOfferedV1) -> None:
        await once("notify-offers", event, service.on_assignment_offered)

    @bus.subscriber("statuses", RequestStatusChangedV1,
                    "Tells the requester (assigned, done), the team (contact) and coordinators (escalated).")
    async def on_status_changed(event: RequestStatusChangedV1) -> None:
        await once("notify-statuses", event, service.on_status_changed)

    @bus.subscriber("sla", RequestSlaBreachedV1, "Alerts the community's coordinators to a missed deadline.")
    async def on_sla_breached(event: RequestSlaBreachedV1) -> None:
        await once("notify-sla", event, service.on_sla_breached)

    @bus.subscriber("checkins", MemberCheckinMissingV1, "Reminds a member to do today's health check-in.")
    async def on_checkin_missing(event: MemberCheckinMissingV1) -> None:
        await once("notify-checkins", event, service.on_checkin_missing)

    bus.publisher(NotificationDeliveredV1, "A message was handed to its provider, or given up.")
    bus.publisher(AssignmentRepliedV1, "A team leader accepted, declined or completed a task by SMS or chat.")
    bus.publisher(RequestFeedbackGivenV1, "A requester rated a done request by SMS.")

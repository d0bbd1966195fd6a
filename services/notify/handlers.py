"""Notify's bus doors: each subscriber claims its event once and hands it to a use case."""

from collections.abc import Awaitable, Callable

from shared.contracts import (
    AssignmentOfferedV1,
    AssignmentRepliedV1,
    CommunityChangedV1,
    Event,
    MemberCheckinMissingV1,
    NotificationDeliveredV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestSlaBreachedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.runtime import Runtime

from . import announcements, audiences
from .communities import CommunityDirectory, keep_community
from .messages import Composer


def register(runtime: Runtime, composer: Composer, directory: CommunityDirectory) -> None:
    bus = runtime.bus

    async def announce(consumer: str, event: Event, use_case: Callable[..., Awaitable[None]]) -> None:
        await runtime.once(consumer, event, lambda session: use_case(session=session, event=event, composer=composer))

    @bus.subscriber("requests", RequestReceivedV1, "Confirms receipt to the requester by SMS.")
    async def on_request_received(event: RequestReceivedV1) -> None:
        await announce("notify-requests", event, announcements.announce_request_received)

    @bus.subscriber("teams", TeamChangedV1, "Keeps the teams' chat and leader contacts.")
    async def on_team_changed(event: TeamChangedV1) -> None:
        await runtime.once("notify-teams", event, lambda session: audiences.keep_team(session=session, event=event))

    @bus.subscriber("communities", CommunityChangedV1, "Keeps the communities and who covers them.")
    async def on_community_changed(event: CommunityChangedV1) -> None:
        changed = await runtime.once("notify-communities", event,
                                     lambda session: keep_community(session=session, event=event))
        if changed:
            directory.invalidate()  # after the commit: the next read sees the change

    @bus.subscriber("offers", AssignmentOfferedV1, "Tells a team about an offer in its chat.")
    async def on_assignment_offered(event: AssignmentOfferedV1) -> None:
        await announce("notify-offers", event, announcements.announce_offer)

    @bus.subscriber("statuses", RequestStatusChangedV1,
                    "Tells the requester (assigned, done), the team (contact) and coordinators (escalated).")
    async def on_status_changed(event: RequestStatusChangedV1) -> None:
        await announce("notify-statuses", event, announcements.announce_status_change)

    @bus.subscriber("sla", RequestSlaBreachedV1, "Alerts the community's coordinators to a missed deadline.")
    async def on_sla_breached(event: RequestSlaBreachedV1) -> None:
        await announce("notify-sla", event, announcements.alert_sla_breach)

    @bus.subscriber("checkins", MemberCheckinMissingV1, "Reminds a member to do today's health check-in.")
    async def on_checkin_missing(event: MemberCheckinMissingV1) -> None:
        await announce("notify-checkins", event, announcements.remind_missing_checkin)

    bus.publisher(NotificationDeliveredV1, "A message was handed to its provider, or given up.")
    bus.publisher(AssignmentRepliedV1, "A team leader accepted, declined or completed a task by SMS or chat.")
    bus.publisher(RequestFeedbackGivenV1, "A requester rated a done request by SMS.")

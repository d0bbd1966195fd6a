"""Dispatch's bus subscribers: thin doors into the use cases."""

from shared.contracts import (
    AssignmentOfferedV1,
    AssignmentRepliedV1,
    CommunityChangedV1,
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestSlaBreachedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.runtime import Runtime

from . import assignments, communities, offers, teams
from .communities import CommunityDirectory
from .loops import QueueSweeper
from .settings import DispatchSettings
from .team_index import TeamCache


def register(runtime: Runtime, settings: DispatchSettings, sweeper: QueueSweeper, team_cache: TeamCache,
             directory: CommunityDirectory) -> None:
    bus = runtime.bus

    @bus.subscriber("communities", CommunityChangedV1,
                    "Keeps dispatch's read model of communities: the tree scopes and offers ask.")
    async def on_community_changed(event: CommunityChangedV1) -> None:
        changed = await runtime.once("dispatch-communities", event,
                                     lambda session: communities.apply_community_change(session=session, event=event))
        if changed:
            await directory.refresh_now()  # this replica at once; the others within a reload
            sweeper.wake()  # a request waiting for a sibling's team may have one now

    @bus.subscriber("teams", TeamChangedV1, "Keeps dispatch's read model of teams and its spatial index.")
    async def on_team_changed(event: TeamChangedV1) -> None:
        changed = await runtime.once("dispatch-teams", event,
                                     lambda session: teams.apply_team_change(session=session, event=event))
        if changed:
            await team_cache.refresh_now()  # this replica's index at once; the others within a reload
            sweeper.wake()  # queued requests may fit this team now

    @bus.subscriber("requests", RequestReceivedV1, "Follows each new request and offers it to a team.")
    async def on_request_received(event: RequestReceivedV1) -> None:
        await runtime.once("dispatch-requests", event,
                           lambda session: offers.take_request(session=session, event=event, settings=settings,
                                                               index=team_cache.current(), directory=directory))

    @bus.subscriber("cancellations", RequestCancelledV1, "Cancels a request at any state before done.")
    async def on_request_cancelled(event: RequestCancelledV1) -> None:
        freed = await runtime.once("dispatch-cancellations", event,
                                   lambda session: assignments.apply_cancellation(session=session, event=event))
        if freed:
            sweeper.wake()

    @bus.subscriber("feedback", RequestFeedbackGivenV1, "Closes a done request the requester confirmed.")
    async def on_feedback_given(event: RequestFeedbackGivenV1) -> None:
        await runtime.once("dispatch-feedback", event,
                           lambda session: assignments.apply_feedback(session=session, event=event))

    @bus.subscriber("replies", AssignmentRepliedV1, "Acts on a team leader's SMS or chat reply.")
    async def on_assignment_replied(event: AssignmentRepliedV1) -> None:
        acted = await runtime.once("dispatch-replies", event,
                                   lambda session: assignments.apply_reply(session=session, event=event))
        if acted and event.data.action in ("decline", "complete"):
            sweeper.wake()

    bus.publisher(AssignmentOfferedV1, "A request was offered to a team.")
    bus.publisher(RequestStatusChangedV1, "A request moved in its lifecycle (escalations carry the reason).")
    bus.publisher(RequestSlaBreachedV1, "No team accepted a request within its urgency's service level.")

"""Volunteers' bus doors: thin, each one transaction with an idempotent claim."""

from shared.contracts import (
    CommunityChangedV1,
    CoordinatorTokenRevokedV1,
    MemberCheckinMissingV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.runtime import Runtime

from . import ledger
from .settings import VolunteersSettings

POINTS_CONSUMER = "volunteers-points"
FACTS_CONSUMER = "volunteers-request-facts"


def register(runtime: Runtime, settings: VolunteersSettings) -> None:
    bus = runtime.bus

    @bus.subscriber("request-facts", RequestReceivedV1,
                    "Remembers each request's category and urgency, to score its completion.")
    async def on_request_received(event: RequestReceivedV1) -> None:
        await runtime.once(FACTS_CONSUMER, event,
                           lambda session: ledger.record_request_facts(session=session, event=event))

    @bus.subscriber("points", RequestStatusChangedV1,
                    "Awards points to the team's members when an assignment is done.")
    async def on_request_status_changed(event: RequestStatusChangedV1) -> None:
        if event.data.status != "done":
            return
        # The claim stops a redelivery; the ledger's unique key stops the same
        # completion published twice under different event ids.
        await runtime.once(POINTS_CONSUMER, event,
                           lambda session: ledger.award_completion(session=session, event=event, settings=settings))

    bus.publisher(TeamChangedV1, "A team was created or changed (whole current state, "
                  "including effective capacity and on-duty after shifts and health).")
    bus.publisher(MemberCheckinMissingV1, "A member has not done today's health check-in "
                  "by the reminder time (once per member per day).")
    bus.publisher(CommunityChangedV1, "A community, district or city was created or changed (whole current "
                  "state: parent, names, time zone, boundary, hotline, status).")
    bus.publisher(CoordinatorTokenRevokedV1, "A coordinator token was revoked before its expiry (signed out, "
                  "refreshed, or withdrawn by an admin); every service refuses it from then on.")

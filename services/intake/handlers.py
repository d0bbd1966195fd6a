"""Intake's bus doors: the subscribers (dispatch's status changes, feedback
relayed by notify, volunteers' communities) and the events it publishes."""

from __future__ import annotations

from shared.contracts import (
    CommunityChangedV1,
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
)
from shared.runtime import Runtime

from . import communities, requests


async def community_changed(runtime: Runtime, catalogue: communities.Catalogue, event: CommunityChangedV1) -> None:
    """Applies a community's change once, then rebuilds this replica's catalogue."""
    applied = await runtime.once("intake-communities", event,
                                 lambda session: communities.apply_change(session=session, event=event))
    if applied:
        async with runtime.db.connect() as session:
            await catalogue.load(session)


def register(runtime: Runtime, catalogue: communities.Catalogue) -> None:
    bus = runtime.bus

    @bus.subscriber("communities", CommunityChangedV1,
                    "Keeps the communities read model (forms, placing requests, scope).")
    async def on_community_changed(event: CommunityChangedV1) -> None:
        await community_changed(runtime, catalogue, event)

    @bus.subscriber("request-status", RequestStatusChangedV1,
                    "Keeps the requester-facing status current.")
    async def on_request_status_changed(event: RequestStatusChangedV1) -> None:
        await runtime.once("intake-request-status", event,
                           lambda session: requests.apply_dispatch_status(session=session, event=event))

    @bus.subscriber("request-feedback", RequestFeedbackGivenV1,
                    "Records feedback a requester gave by SMS (relayed by notify).")
    async def on_request_feedback(event: RequestFeedbackGivenV1) -> None:
        await runtime.once("intake-request-feedback", event,
                           lambda session: requests.record_relayed_feedback(session=session, event=event))

    bus.publisher(RequestReceivedV1, "A request for help was accepted and stored.")
    bus.publisher(RequestCancelledV1, "A partner or coordinator withdrew a request.")
    bus.publisher(RequestFeedbackGivenV1, "The requester rated a done request through the API.")

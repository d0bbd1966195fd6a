"""Status changes as recorded: every status_changed dispatch publishes
carries the request's SLA deadline, the one time every service promises."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.waiting import eventually

from .conftest import Dispatch, request_event


async def test_every_status_change_carries_the_requests_sla_deadline(dispatch: Dispatch) -> None:
    # No team: the request is queued, widened, then escalated.
    request = request_event(urgency="high")
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    body = await dispatch.wait_status(request_id, "escalated")

    async def both_published():
        found = [e for e in await dispatch.bus.published("aid.request.status_changed.v1")
                 if e["data"]["request_id"] == request_id]
        return found if len(found) >= 2 else None
    changes = await eventually(both_published, what="queued and escalated on the bus")

    sla_due_at = datetime.fromisoformat(body["sla_due_at"])
    assert sla_due_at == request.data.received_at + timedelta(minutes=120)  # sla_minutes_high
    assert sorted(e["data"]["status"] for e in changes) == ["escalated", "queued"]
    for change in changes:
        assert datetime.fromisoformat(change["data"]["expected_by"]) == sla_due_at

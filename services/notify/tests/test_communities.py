"""The communities read model: notify keeps the tree volunteers publishes
(newer versions only, each event once) and covers a district's communities
with its coordinators."""

from __future__ import annotations

from uuid import uuid4

from services.notify import store
from tests.support.waiting import eventually

from .conftest import COMMUNITY, community_changed, coordinator, publish_wuhan, request_received


async def _community(notify, code: str):
    async with notify.app.state.runtime.db.transaction() as session:
        return await store.get_community(session, code)


async def test_the_tree_keeps_only_newer_versions_once(notify) -> None:
    await publish_wuhan(notify)
    kept = await _community(notify, COMMUNITY)
    assert (kept.parent, kept.level, kept.version, kept.timezone) == ("wuhan-jianghan", "community", 1,
                                                                     "Asia/Shanghai")
    moved = community_changed(COMMUNITY, "wuhan-hongshan", version=3)
    await notify.bus.publish(moved)
    await notify.bus.publish(moved)  # delivered twice: applied once
    await notify.bus.publish(community_changed(COMMUNITY, "wuhan-jianghan", version=2))  # late and older
    await notify.bus.settled("notify-communities")
    kept = await _community(notify, COMMUNITY)
    assert (kept.parent, kept.version) == ("wuhan-hongshan", 3)


async def test_a_district_coordinator_covers_its_communities_as_the_tree_changes(notify) -> None:
    await publish_wuhan(notify)
    await notify.bus.publish(request_received(uuid4()))
    await eventually(lambda: notify.capture.sms_to("+8613800138000"), what="the receipt")
    jianghan, hongshan = coordinator("wuhan-jianghan"), coordinator("wuhan-hongshan")
    assert len((await notify.client.get("/v1/deliveries", headers=jianghan)).json()) == 1
    assert (await notify.client.get("/v1/deliveries", headers=hongshan)).json() == []
    # The community moves to the other district: the cache follows the applied change.
    await notify.bus.publish(community_changed(COMMUNITY, "wuhan-hongshan", version=2))
    await notify.bus.settled("notify-communities")
    assert (await notify.client.get("/v1/deliveries", headers=jianghan)).json() == []
    assert len((await notify.client.get("/v1/deliveries", headers=hongshan)).json()) == 1
    city = await notify.client.get("/v1/deliveries", headers=coordinator("wuhan"))
    assert city.headers["X-Total-Count"] == "1"

"""schemathesis against volunteers', dispatch's and notify's OpenAPI documents
(intake has its own, in services/intake/tests): a bounded number of generated
calls per operation (valid and invalid input, also aimed at real objects
seeded first), each service a real process on PostgreSQL and NATS; no input
may make a service answer 5xx, and the run must reach success paths too."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from services.notify.replies import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, team_key
from shared.contracts import CommunityChangedV1, RequestReceivedV1, TeamChangedV1
from tests.support.bus import TestBus
from tests.support.processes import ServiceProcess
from tests.support.system import ADMIN_TOKEN, AUTH, COMMUNITY, DEMO_COMMUNITIES
from tests.support.waiting import eventually

EXAMPLES_PER_OPERATION = 15
TOKEN_SECRET = "fuzz-token-secret-0123456789abcdefghijk"  # 40 characters
INBOUND_SECRET = "fuzz-inbound-secret-0123456789abcdef"
LEADER_PHONE = "+8613900139000"
HERE = {"lat": 30.5928, "lon": 114.3055}


@dataclass
class Seeded:
    """Path parameters that name real objects, for every operation or for one
    (an operation that destroys what it names gets an object of its own)."""

    known: dict[str, str]
    per_operation: dict[str, dict[str, str]] = field(default_factory=dict)

    def aimed(self, label: str, names: set[str]) -> dict[str, str]:
        values = {**self.known, **self.per_operation.get(label, {})}
        return {name: values[name] for name in names if name in values}


# --- events as the other services publish them ---------------------------------------------


def _community_event(code: str, parent: str | None, level: str, boundary: dict | None) -> CommunityChangedV1:
    return CommunityChangedV1(source="heartline/volunteers", correlationid=code, data=dict(
        code=code, version=1, level=level, parent=parent, name_zh=code, name_en=code, timezone="Asia/Shanghai",
        boundary=boundary, hotline=None, status="active", changed_at=datetime.now(UTC)))


def _community_events() -> list[CommunityChangedV1]:
    return [_community_event(c["code"], c.get("parent"), c["level"], c.get("boundary")) for c in DEMO_COMMUNITIES]


def _team_event(team_id: str, chat_url: str | None = None) -> TeamChangedV1:
    return TeamChangedV1(source="heartline/volunteers", correlationid=team_id, data=dict(
        team_id=team_id, version=1, name="Fuzz team", community=COMMUNITY, location=HERE, radius_km=5.0,
        skills=["delivery"], categories=["medicine", "daily_necessities"], capacity=3, on_duty=True,
        status="active", chat_url=chat_url, leader={"name": "Wang Wei", "phone": LEADER_PHONE}))


def _request_event(request_id: str) -> RequestReceivedV1:
    return RequestReceivedV1(source="heartline/intake", correlationid=request_id, data=dict(
        request_id=request_id, reference=request_id[:8].upper(), category="medicine", needs_volunteer=True,
        description="Needs insulin delivered", location={"lat": 30.5950, "lon": 114.3000}, community=COMMUNITY,
        urgency="high", vulnerabilities=(), requester={"name": "Li Na", "phone": "+8613800138000"},
        received_at=datetime.now(UTC)))


async def _get_ok(url: str, path: str, predicate: Callable[[httpx.Response], bool] = lambda r: True) -> bool:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client:
        response = await client.get(path)
        return response.status_code == 200 and predicate(response)


# --- seeding, one service at a time -------------------------------------------------------------


async def _seed_volunteers(url: str, bus_env: dict[str, str]) -> Seeded:
    """The demo's city, district and community, two teams (one to delete), a
    member, a coordinator and a district to replace."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        for body in DEMO_COMMUNITIES:
            assert client.post("/v1/communities", json=body).status_code == 201
        spare = client.post("/v1/communities", json={"code": "wuhan-spare", "level": "district", "parent": "wuhan",
                                                      "name_zh": "备用区", "name_en": "Spare"})
        assert spare.status_code == 201, spare.text
        team = {"name": "Fuzz team", "community": COMMUNITY, "location": HERE, "radius_km": 5.0,
                "skills": ["delivery", "medicine_purchase"], "capacity": 3,
                "leader": {"name": "Wang Wei", "phone": LEADER_PHONE}}
        created = [client.post("/v1/teams", json=team) for _ in range(2)]
        assert all(r.status_code == 201 for r in created), [r.text for r in created]
        team_id, doomed = (r.json()["id"] for r in created)
        member = client.post(f"/v1/teams/{team_id}/members",
                             json={"name": "Zhao Lei", "phone": "+8613700137000", "skills": ["delivery"]})
        assert member.status_code == 201, member.text
        coordinator = client.post("/v1/coordinators", json={"name": "Coordinator Zhang",
                                                            "communities": [COMMUNITY]})
        assert coordinator.status_code == 201, coordinator.text
    checkin_url = member.json().get("checkin_url") or ""
    known = {"team_id": team_id, "member_id": member.json()["id"], "code": COMMUNITY,
             "coordinator_id": coordinator.json()["id"]}
    if checkin_url:
        known["key"] = checkin_url.rstrip("/").rsplit("/", 1)[-1]
    return Seeded(known, {"DELETE /v1/teams/{team_id}": {"team_id": doomed},
                          "PUT /v1/communities/{code}": {"code": "wuhan-spare"}})


async def _seed_dispatch(url: str, bus_env: dict[str, str]) -> Seeded:
    """The community tree, a team and a request, which dispatch offers to the team."""
    team_id, request_id = str(uuid4()), str(uuid4())
    async with TestBus(bus_env) as bus:
        for event in _community_events():
            await bus.publish(event)
        await bus.settled("dispatch-communities")
        await bus.publish(_team_event(team_id))
        await bus.settled("dispatch-teams")
        await bus.publish(_request_event(request_id))

    async def offered() -> str | None:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client:
            assignment = (await client.get(f"/v1/requests/{request_id}")).json().get("assignment")
        return assignment["id"] if assignment else None

    assignment_id = await eventually(offered, what="the request offered to the team in dispatch", timeout=20)
    return Seeded({"request_id": request_id, "team_id": team_id, "assignment_id": assignment_id})


async def _seed_notify(url: str, bus_env: dict[str, str]) -> Seeded:
    """The community tree, a team, a request (so the delivery log has rows)
    and a consent."""
    team_id, request_id = str(uuid4()), str(uuid4())
    async with TestBus(bus_env) as bus:
        for event in _community_events():
            await bus.publish(event)
        await bus.settled("notify-communities")
        await bus.publish(_team_event(team_id))
        await bus.settled("notify-teams")
        await bus.publish(_request_event(request_id))
        await bus.settled("notify-requests")
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        consent = client.put(f"/v1/consents/{LEADER_PHONE}",
                             json={"opted_out": False, "preferred_channel": "sms", "reason": "fuzz seed"})
        assert consent.status_code == 200, consent.text
    await eventually(lambda: _get_ok(url, f"/v1/deliveries?request_id={request_id}", lambda r: bool(r.json())),
                     what="a delivery for the seeded request")
    return Seeded({"team_id": team_id, "phone": LEADER_PHONE})


# --- the run ---------------------------------------------------------------------------------------


def _strategies(operation, aimed: dict[str, str]):
    strategies = []
    if aimed:  # first (hypothesis starts with the first branch), and twice: half the calls name a real object
        strategies += [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed)] * 2
    strategies.append(operation.as_strategy(GenerationMode.POSITIVE))
    try:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # nothing in this operation can be made invalid
        pass
    return st.one_of(strategies)


def _replies() -> st.SearchStrategy[dict]:
    """Bodies of a gateway's reply (notify's webhooks take the raw body, so
    the document has no schema for schemathesis to generate from)."""
    text = st.one_of(st.sampled_from(["1", "2", "接受", "完成", "DONE", "5", "STOP", "退订"]), st.text(max_size=60))
    sender = st.one_of(st.sampled_from([LEADER_PHONE, "+8613800138000"]), st.text(max_size=20))
    extra = {"id": st.text(max_size=120), "junk": st.integers()}
    return st.one_of(st.fixed_dictionaries({"from": sender, "text": text}, optional=extra),
                     st.fixed_dictionaries({"text": text}, optional=extra),
                     st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3))


def _encoded(reply: dict) -> st.SearchStrategy[tuple[str, bytes]]:
    form = urlencode({k: str(v) for k, v in reply.items()}).encode()
    return st.sampled_from([("application/json", json.dumps(reply).encode()),
                            ("application/x-www-form-urlencoded", form)])


def _raw_bodies(label: str) -> st.SearchStrategy[tuple[str, bytes] | None]:
    if not label.startswith("POST /v1/inbound/"):
        return st.none()
    junk = st.tuples(st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
                     st.binary(max_size=80))
    return st.one_of(_replies().flatmap(_encoded), junk)


def _signing_key(label: str, case) -> str | None:
    """Notify's webhooks take a signature, not a token: sign the generated
    body so that its parsing is fuzzed too (with the team's key for chat)."""
    if label == "POST /v1/inbound/sms":
        return INBOUND_SECRET
    if label == "POST /v1/inbound/chat/{team_id}":
        return team_key(INBOUND_SECRET, str(case.path_parameters.get("team_id")))
    return None


def _send(session: requests.Session, case, url: str, label: str,
          raw: tuple[str, bytes] | None) -> requests.Response:
    kwargs = case.as_transport_kwargs(base_url=url, headers=AUTH)
    prepared = session.prepare_request(requests.Request(
        method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"), params=kwargs.get("params"),
        cookies=kwargs.get("cookies"), json=kwargs.get("json"), data=kwargs.get("data"), files=kwargs.get("files")))
    if raw is not None:
        prepared.headers["Content-Type"], prepared.body = raw
        prepared.headers["Content-Length"] = str(len(raw[1]))
    key = _signing_key(label, case)
    if key is not None:
        body = prepared.body or b""
        body = body.encode() if isinstance(body, str) else body
        timestamp = str(int(time.time()))
        prepared.headers[TIMESTAMP_HEADER] = timestamp
        prepared.headers[SIGNATURE_HEADER] = sign(key, body, timestamp)
    return session.send(prepared, timeout=15)


def _calls(operation, seeded: Seeded, url: str, seen: dict[str, set[int]], failures: list[str]):
    """The generated calls of one operation, noting each answer's status and every 5xx."""
    label = f"{operation.method.upper()} {operation.path}"
    aimed = seeded.aimed(label, {p.name for p in operation.path_parameters})
    session = requests.Session()

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=True, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=_strategies(operation, aimed), raw=_raw_bodies(label))
    def call(case, raw: tuple[str, bytes] | None) -> None:
        response = _send(session, case, url, label, raw)
        seen.setdefault(label, set()).add(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{label} -> {response.status_code}: {response.text[:300]}\n"
                            f"  {case.as_curl_command()[:800]}")

    return call


@dataclass(frozen=True)
class Target:
    service: str
    seed: Callable[[str, dict[str, str]], Awaitable[Seeded]]
    # (label, status) pairs the run must have reached.
    reached: tuple[tuple[str, int], ...]
    env: tuple[tuple[str, str], ...] = ()


TARGETS = [
    Target("volunteers", _seed_volunteers, (
        ("GET /v1/teams/{team_id}", 200), ("GET /v1/members/{member_id}", 200), ("PATCH /v1/teams/{team_id}", 200),
        ("GET /v1/communities/{code}", 200), ("POST /v1/teams", 422), ("GET /v1/teams", 200),
    ), (("VOLUNTEERS_FORM_POW_BITS", "1"), ("VOLUNTEERS_FORM_RATE_PER_MINUTE", "100000"))),
    Target("dispatch", _seed_dispatch, (
        ("GET /v1/requests/{request_id}", 200), ("GET /v1/requests/{request_id}/history", 200),
        ("GET /v1/requests", 200), ("GET /v1/stats", 200),
    )),
    Target("notify", _seed_notify, (
        ("GET /v1/consents/{phone}", 200), ("PUT /v1/consents/{phone}", 200), ("GET /v1/deliveries", 200),
        ("GET /v1/teams/{team_id}/inbound-key", 200), ("POST /v1/inbound/sms", 200),
        ("POST /v1/inbound/chat/{team_id}", 200),
    ), (("NOTIFY_INBOUND_SECRET", INBOUND_SECRET),)),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.service)
async def test_generated_calls_never_get_a_5xx(target: Target, bus_env, make_database) -> None:
    service = ServiceProcess(target.service, {
        **bus_env, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN, "HEARTLINE_TOKEN_SECRET": TOKEN_SECRET,
        f"{target.service.upper()}_DATABASE_URL": await make_database(target.service), **dict(target.env),
    }).start()
    try:
        seeded = await target.seed(service.url, bus_env)
        schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
        failures: list[str] = []
        seen: dict[str, set[int]] = {}
        for result in schema.get_all_operations():
            _calls(result.ok(), seeded, service.url, seen, failures)()
        broken = sorted({failure.split(" -> ")[0] for failure in failures})
        assert not failures, f"{broken}\n" + "\n".join(failures[:10]) + "\n" + service.logs()[-3000:]
        # The run reached the success paths, not only the rejections.
        missed = [(label, status) for label, status in target.reached if status not in seen.get(label, set())]
        assert not missed, (missed, seen)
    finally:
        service.stop()

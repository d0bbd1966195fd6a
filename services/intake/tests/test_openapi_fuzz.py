"""schemathesis against intake's OpenAPI document: a bounded number of
generated calls per operation (valid and invalid input, also aimed at a real
request, partner and community), on a real intake process (PostgreSQL, NATS);
no input may make it answer 5xx."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.bus import TestBus
from tests.support.processes import ServiceProcess
from tests.support.system import ADMIN_TOKEN, AUTH, request_body
from tests.support.waiting import eventually

from .conftest import community_event

EXAMPLES_PER_OPERATION = 25


async def _seed(url: str, bus_env: dict[str, str]) -> dict[str, str]:
    """A community (from volunteers' event), a partner and a request for generated calls to find."""
    async with TestBus(bus_env) as bus:
        await bus.publish(community_event())

    async def known() -> bool:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            return (await client.get("/v1/communities/jianghan-01")).status_code == 200

    await eventually(known, what="the community in intake's read model")
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        partner = client.post("/v1/partners", json={"name": "Fuzz"}).json()["id"]
        request = client.post("/v1/requests", json=request_body()).json()["id"]
    return {"request_id": request, "partner_id": partner, "code": "jianghan-01",
            "service_request_id": request, "token": request}


def _strategies(operation, known: dict[str, str]):
    names = {p.name for p in operation.path_parameters}
    aimed = {name: known[name] for name in names if name in known}
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if aimed:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed))
    try:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # nothing in this operation can be made invalid
        pass
    return st.one_of(strategies)


def _calls(operation, known: dict[str, str], url: str, seen: dict[str, set[int]], failures: list[str]):
    """The generated calls of one operation, noting each answer's status and every 5xx."""
    label = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=True, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=_strategies(operation, known))
    def call(case) -> None:
        response = case.call(base_url=url, headers=AUTH, timeout=15)
        seen.setdefault(label, set()).add(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{label} -> {response.status_code}: {response.text[:300]}\n"
                            f"  {case.as_curl_command()[:800]}")

    return call


async def test_generated_calls_never_get_a_5xx(bus_env, make_database) -> None:
    intake = ServiceProcess("intake", {
        **bus_env, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "INTAKE_DATABASE_URL": await make_database("intake"),
        "INTAKE_RATE_LIMIT_BURST": "100000",
    }).start()
    try:
        known = await _seed(intake.url, bus_env)
        schema = schemathesis.openapi.from_url(intake.url + "/openapi.json")
        failures: list[str] = []
        seen: dict[str, set[int]] = {}
        for result in schema.get_all_operations():
            _calls(result.ok(), known, intake.url, seen, failures)()
        assert not failures, "\n".join(failures[:10]) + "\n" + intake.logs()[-3000:]
        # The run reached the success paths, not only the rejections.
        assert 202 in seen["POST /v1/requests"] and 422 in seen["POST /v1/requests"], seen
        assert 200 in seen["GET /v1/requests/{request_id}"], seen
        assert len(seen) >= 25, seen
    finally:
        intake.stop()

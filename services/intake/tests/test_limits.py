"""The guards in front of every door (limits.py): 413 for a body too large,
429 with Retry-After for a partner over its rate."""

from __future__ import annotations

from tests.support.system import request_body

from .conftest import new_partner


async def test_an_oversized_body_is_413(start_intake) -> None:
    async with start_intake(max_body_bytes=4096) as (intake, _):
        body = request_body()
        body["description"] = "x" * 5000
        response = await intake.post("/v1/requests", json=body)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413

        async def chunks():  # no Content-Length: counted as it streams in
            for _ in range(10):
                yield b" " * 1000

        streamed = await intake.post("/v1/requests", content=chunks(),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert (await intake.post("/v1/requests", json=request_body())).status_code == 202


async def test_a_partner_over_its_rate_gets_429_with_retry_after(start_intake) -> None:
    async with start_intake(rate_limit_per_second=0.5, rate_limit_burst=3) as (intake, _):
        _, partner = await new_partner(intake)
        _, other = await new_partner(intake, "Other")
        async with partner, other:
            codes = [(await partner.get("/v1/requests")).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            limited = await partner.post("/v1/requests", json=request_body())
            assert limited.status_code == 429
            assert int(limited.headers["Retry-After"]) >= 1
            assert limited.headers["content-type"] == "application/problem+json"
            # Buckets are per partner; the admin is not limited.
            assert (await other.get("/v1/requests")).status_code == 200
            assert [(await intake.get("/v1/requests")).status_code for _ in range(5)] == [200] * 5

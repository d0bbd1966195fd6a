"""Issue #11's attacks on the public QR form, each tried and refused: replayed,
forged, absent and borrowed form tokens, a spoofed X-Forwarded-For, partners
eating the form's budget, and a number outside the deployment's regions."""

from __future__ import annotations

import re

from shared.public_doors import solve, solves
from tests.support.system import request_body

from .conftest import POW_BITS, add_community, new_partner

NO_AUTH = {"Authorization": ""}


async def _token(client, code: str = "jianghan-01") -> str:
    page = await client.get(f"/form/{code}", headers=NO_AUTH)
    assert '<script src="/static/pow.js"' in page.text and 'name="pow"' in page.text
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


def _form(token: str | None, solution: str | None = None, **changes) -> dict:
    form = {"lang": "en", "form_token": token, "pow": solution if solution is not None else (
        solve(token, POW_BITS) if token else None), "category": "medicine", "description": "needs pills",
        "address": "3-601", "name": "Li Na", "phone": "138 0013 8000"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def _count(client) -> int:
    return len((await client.get("/v1/requests")).json())


async def test_a_spent_token_cannot_send_another_request(intake) -> None:
    await add_community(intake)
    token = await _token(intake)
    assert (await intake.post("/form/jianghan-01", data=_form(token), headers=NO_AUTH)).status_code == 201
    replayed = await intake.post("/form/jianghan-01", data=_form(token, phone="139 1234 5678"), headers=NO_AUTH)
    assert replayed.status_code == 422
    assert await _count(intake) == 1


async def test_forged_absent_unsolved_and_borrowed_tokens_are_refused(intake) -> None:
    await add_community(intake)
    await add_community(intake, "hongshan-07", 30.50, 114.40)
    token = await _token(intake)
    payload, _, signature = token.partition(".")
    forged = f"{payload}.{'A' * len(signature)}"
    tries = [_form(forged, solve(forged, POW_BITS)), _form(None), _form(token, solution=""),
             _form("made-up-by-a-script-0123456789")]
    other = await _token(intake, "hongshan-07")
    for data in tries + [_form(other)]:
        answer = await intake.post("/form/jianghan-01", data=data, headers=NO_AUTH)
        assert answer.status_code == 422, data
    # A solution that does not have the leading zero bits is refused too.
    wrong = next(str(n) for n in range(1000) if not solves(token, str(n), POW_BITS))
    assert (await intake.post("/form/jianghan-01", data=_form(token, solution=wrong),
                              headers=NO_AUTH)).status_code == 422
    assert await _count(intake) == 0
    # The real token still works once.
    assert (await intake.post("/form/jianghan-01", data=_form(token), headers=NO_AUTH)).status_code == 201


async def test_a_spoofed_forwarded_for_shares_the_peers_bucket(start_intake) -> None:
    async with start_intake(form_rate_limit_burst=2, form_rate_limit_per_second=0.001) as (intake, _app):
        await add_community(intake)
        answers = [await intake.post("/form/jianghan-01", data=_form(None), headers={
            **NO_AUTH, "X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
        assert [a.status_code for a in answers] == [422, 422, 429]


async def test_a_trusted_proxys_forwarded_for_is_honoured(start_intake) -> None:
    async with start_intake(form_rate_limit_burst=1, form_rate_limit_per_second=0.001,
                            trusted_proxies=["127.0.0.0/8"]) as (intake, _app):
        await add_community(intake)

        async def send(client_ip: str) -> int:
            return (await intake.post("/form/jianghan-01", data=_form(None), headers={
                **NO_AUTH, "X-Forwarded-For": f"{client_ip}, 127.0.0.1"})).status_code

        assert [await send("203.0.113.1"), await send("203.0.113.2"), await send("203.0.113.1")] == [422, 422, 429]


async def test_partner_traffic_does_not_eat_the_forms_budget(start_intake) -> None:
    async with start_intake(rate_limit_burst=2, rate_limit_per_second=0.001, form_pow_bits=POW_BITS) as (intake, _app):
        await add_community(intake)
        _, partner = await new_partner(intake)
        async with partner:
            codes = [(await partner.post("/v1/requests", json=request_body(external_id=f"p-{n}"))).status_code
                     for n in range(3)]
            assert codes == [202, 202, 429]
        token = await _token(intake)
        assert (await intake.post("/form/jianghan-01", data=_form(token), headers=NO_AUTH)).status_code == 201


async def test_the_form_takes_only_numbers_of_the_deployments_regions(intake) -> None:
    await add_community(intake)
    token = await _token(intake)
    american = await intake.post("/form/jianghan-01", data=_form(token, phone="+1 202 555 0143"), headers=NO_AUTH)
    assert american.status_code == 422 and 'id="phone-error"' in american.text
    assert await _count(intake) == 0

"""Partners (partners.py): keys that work, are stored hashed and can be
revoked, and only an admin manages them."""

from __future__ import annotations

import hashlib

from tests.support.system import request_body

from .conftest import new_partner


async def test_a_partner_key_works_is_stored_hashed_and_can_be_revoked(intake, start_intake) -> None:
    partner_id, partner = await new_partner(intake)
    async with partner:
        accepted = await partner.post("/v1/requests", json=request_body(external_id="k-1"))
        assert accepted.status_code == 202, accepted.text
        keys = (await intake.get(f"/v1/partners/{partner_id}/keys")).json()
        assert len(keys) == 1 and "key" not in keys[0] or keys[0]["key"] is None
        key = partner.headers["Authorization"].removeprefix("Bearer ")
        assert key.startswith(keys[0]["prefix"])

        runtime = intake._transport.app.state.runtime
        async with runtime.db.connect() as session:
            from sqlalchemy import select

            from services.intake.models import partner_keys
            stored = (await session.execute(select(partner_keys.c.key_hash))).scalars().all()
        assert stored == [hashlib.sha256(key.encode()).hexdigest()]

        revoked = await intake.delete(f"/v1/partners/{partner_id}/keys/{keys[0]['id']}")
        assert revoked.status_code == 204
        refused = await partner.get(f"/v1/requests/{accepted.json()['id']}")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"


async def test_only_an_admin_manages_partners(intake) -> None:
    _, partner = await new_partner(intake)
    async with partner:
        assert (await partner.post("/v1/partners", json={"name": "x"})).status_code == 403
        assert (await partner.get("/v1/partners")).status_code == 403
    missing = await intake.post("/v1/partners/00000000-0000-0000-0000-000000000000/keys")
    assert missing.status_code == 404

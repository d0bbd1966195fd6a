"""The public form's tokens: signed here, spent once.  A token already spent
lets through only a resend of the same form (answered from its Idempotency-Key,
so nothing new is stored); anything else with it is refused."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.public_doors import ChallengeFailed, verify_form_token

from . import store, submission_store


async def spend(*, session: AsyncConnection, secret: bytes, token: str, solution: str, form: str,
                owner: str) -> str:
    """The token's nonce, once the token is shown to be ours, for `form`, alive,
    solved and not spent before (or spent by this same form, resent)."""
    claims = verify_form_token(secret, token, form=form, solution=solution, now=utcnow())
    if len(claims.nonce) > 64:
        raise ChallengeFailed("the form token is not one this server issued; reload the form")
    expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
    if not await store.claim_form_token(session, claims.nonce, expires_at):
        if await submission_store.get_idempotency_key(session, owner, claims.nonce) is None:
            raise ChallengeFailed("this form was sent already; reload it to send another")
    return claims.nonce


async def prune(*, session: AsyncConnection) -> int:
    """Forgets spent tokens that have expired anyway; how many."""
    return await store.prune_form_tokens(session, utcnow())

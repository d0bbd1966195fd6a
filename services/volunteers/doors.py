"""What stands in front of volunteers' public doors (registration, check-in):
a per-client rate limit (the client address read through our trusted proxies
only), a server-signed single-use form token with a proof of work, and the
deployment's phone regions.  The shared pieces live in shared.public_doors;
this module holds volunteers' state for them."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime

import phonenumbers
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import FieldError, Problem
from shared.public_doors import (
    ChallengeFailed,
    client_address,
    issue_form_token,
    trusted_networks,
    verify_form_token,
)

from . import store
from .settings import VolunteersSettings

FORMS = ("registration", "checkin")
MAX_CLIENTS = 50_000  # beyond this many addresses in a minute, the oldest are forgotten


class RateLimit:
    """At most `per_minute` hits per client address in any 60 seconds (one replica's view)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}

    def allow(self, client: str, now: float | None = None) -> bool:
        at = time.monotonic() if now is None else now
        hits = self._hits.setdefault(client, deque())
        while hits and hits[0] <= at - 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(at)
        if len(self._hits) > MAX_CLIENTS:
            for stale in [c for c, h in self._hits.items() if not h or h[-1] <= at - 60]:
                del self._hits[stale]
        return True


class Doors:
    """The public doors' gatekeeper: rate limit, form tokens, phone regions."""

    def __init__(self, settings: VolunteersSettings, secret: str) -> None:
        self.settings = settings
        self.secret = secret.encode()
        self.limit = RateLimit(settings.form_rate_per_minute)
        self.trusted = trusted_networks(settings.trusted_proxies)

    def admit(self, request: Request) -> None:
        """429 when this client has used the public doors too often this minute."""
        peer = request.client.host if request.client else None
        client = client_address(peer, request.headers.get("x-forwarded-for"), self.trusted)
        if not self.limit.allow(client):
            raise Problem(429, "Too Many Requests", "too many submissions from this address; wait a minute",
                          headers={"Retry-After": "60"})

    def issue(self, form: str) -> dict[str, object]:
        """A fresh form token and the proof-of-work difficulty it carries."""
        token = issue_form_token(self.secret, form=form, now=datetime.now(UTC),
                                 lifetime_seconds=self.settings.form_token_seconds, bits=self.settings.form_pow_bits)
        return {"token": token, "bits": self.settings.form_pow_bits}

    async def spend(self, session: AsyncConnection, *, form: str, token: str, solution: str) -> None:
        """Checks the token and its proof of work, and uses it up (a second use is refused)."""
        now = datetime.now(UTC)
        try:
            claims = verify_form_token(self.secret, token, form=form, solution=solution, now=now)
        except ChallengeFailed as exc:
            field = "pow" if "check did not finish" in str(exc) else "form_token"
            raise Problem(422, "Form check failed", str(exc), [FieldError(field, str(exc))]) from None
        if claims.bits < self.settings.form_pow_bits:
            raise Problem(422, "Form check failed", "the form token is too old; reload the form",
                          [FieldError("form_token", "issued with a lower difficulty")])
        expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
        if not await store.claim_form_nonce(session, claims.nonce, expires_at):
            raise Problem(422, "Form check failed", "this form was already sent; reload it to send again",
                          [FieldError("form_token", "already used")])

    def check_region(self, phone: str) -> None:
        """422 naming `phone` unless the number belongs to one of the deployment's regions."""
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
        if region not in self.settings.phone_regions:
            reason = f"must be a number of {', '.join(self.settings.phone_regions)}"
            raise Problem(422, "Invalid request", f"phone {reason}", [FieldError("phone", reason)])


POW_JS = """// Fills the form's hidden `pow` field with a proof of work for its form token:
// a number n such that SHA-256("<token>:<n>") starts with `bits` zero bits.
(function () {
  async function digest(text) {
    const data = new TextEncoder().encode(text);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }
  function zeroBits(bytes, bits) {
    for (let i = 0; i < bits; i++) {
      if (bytes[i >> 3] & (0x80 >> (i & 7))) return false;
    }
    return true;
  }
  async function solve(token, bits) {
    for (let n = 0; ; n++) {
      if (zeroBits(await digest(token + ":" + n), bits)) return String(n);
    }
  }
  document.querySelectorAll("form[data-pow-bits]").forEach(function (form) {
    const bits = parseInt(form.dataset.powBits, 10);
    const token = form.querySelector("input[name=form_token]").value;
    const field = form.querySelector("input[name=pow]");
    const ready = solve(token, bits).then(function (n) { field.value = n; });
    form.addEventListener("submit", function (event) {
      if (field.value) return;
      event.preventDefault();
      ready.then(function () { form.submit(); });
    });
  });
})();
"""

"""What stands in front of a form anyone may post (the QR request form, volunteer
registration, check-ins): who the client is behind our proxies, and a form token
the server signed, that expires, is used once, and costs a little work to spend.

The work is a proof of work: find a `solution` so that SHA-256 of
"<token>:<solution>" starts with `bits` zero bits.  A phone's browser does it
in about a second while the person types; a script that wants a thousand
submissions pays a thousand seconds.  Nothing leaves the deployment (no
third-party captcha)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ChallengeFailed(ValueError):
    """The form token or its proof of work does not hold; the message says which."""


def trusted_networks(proxies: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(p, strict=False) for p in proxies]


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, unless the peer is one of our proxies; then
    the right-most address of X-Forwarded-For that is not one of our proxies
    (anything left of that was written by the client and proves nothing)."""
    if peer is None:
        return "unknown"
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


@dataclass(frozen=True)
class FormToken:
    form: str
    nonce: str
    expires_at: int
    bits: int


def issue_form_token(secret: bytes, *, form: str, now: datetime, lifetime_seconds: int, bits: int) -> str:
    """A signed token for one submission of `form`."""
    claims = {"f": form, "n": secrets.token_urlsafe(12), "e": int(now.timestamp()) + lifetime_seconds, "b": bits}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_sign(secret, payload))}"


def verify_form_token(secret: bytes, token: str, *, form: str, solution: str, now: datetime) -> FormToken:
    """The token's claims if it was signed here for `form`, has not expired, and
    `solution` is its proof of work.  Whether it was already used is the
    caller's to check, with the nonce (one row per nonce, kept until it expires)."""
    payload, _, signature = token.partition(".")
    try:
        valid = hmac.compare_digest(base64.urlsafe_b64decode(_padded(signature)), _sign(secret, payload))
        claims = json.loads(base64.urlsafe_b64decode(_padded(payload))) if valid else None
    except (ValueError, TypeError):
        claims = None
    if not isinstance(claims, dict):
        raise ChallengeFailed("the form token is not one this server issued; reload the form")
    parsed = FormToken(form=str(claims.get("f")), nonce=str(claims.get("n")),
                       expires_at=int(claims.get("e", 0)), bits=int(claims.get("b", 0)))
    if parsed.form != form:
        raise ChallengeFailed("the form token belongs to another form; reload the form")
    if now.timestamp() > parsed.expires_at:
        raise ChallengeFailed("the form has expired; reload it and send again")
    if not solves(token, solution, parsed.bits):
        raise ChallengeFailed("the form's check did not finish; wait a moment and send again")
    return parsed


def solves(token: str, solution: str, bits: int) -> bool:
    if len(solution) > 32:
        return False
    digest = hashlib.sha256(f"{token}:{solution}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0 if bits > 0 else True


def solve(token: str, bits: int) -> str:
    """What the page's script does (and tests): count up until the hash has `bits` leading zeros."""
    counter = 0
    while not solves(token, str(counter), bits):
        counter += 1
    return str(counter)


def _sign(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _padded(text: str) -> bytes:
    return (text + "=" * (-len(text) % 4)).encode()

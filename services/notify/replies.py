"""Replies read: what an SMS or chat reply says, and whether a webhook really
came from the provider.  Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

WORDS = {
    "STOP": "stop", "UNSUBSCRIBE": "stop", "TD": "stop", "退订": "stop",
    "START": "start", "UNSTOP": "start", "订阅": "start",
    "ACCEPT": "accept", "接受": "accept", "接单": "accept",
    "DECLINE": "decline", "拒绝": "decline",
    "DONE": "complete", "完成": "complete",
}
_PUNCTUATION = re.compile(r"[\s.,!。，！、:：]+")
_REF = re.compile(r"^[0-9a-f]{4,36}$")


@dataclass(frozen=True)
class Reply:
    """`word` is a recognised command (stop, start, accept, decline, complete)
    or None; `digit` a lone 1-5 (accept/decline for a leader, a rating for a
    requester); `ref` an optional task number after the command."""

    word: str | None
    digit: int | None
    ref: str | None


def parse_reply(text: str) -> Reply:
    """'1', '１', '接受 ab12cd34', 'accept.', 'STOP' ... (full-width forms and
    case do not matter; a command may be glued to a task number)."""
    normal = unicodedata.normalize("NFKC", text).strip().upper()
    tokens = [t for t in _PUNCTUATION.split(normal) if t]
    if not tokens:
        return Reply(None, None, None)
    head, rest = tokens[0], tokens[1:]
    # "接受ab12cd34" or "1ab12cd34": split a known command from a glued task number.
    if head not in WORDS and not head.isdigit():
        for word in sorted(WORDS, key=len, reverse=True):
            if head.startswith(word):
                head, rest = word, [head[len(word):], *rest]
                break
    ref = rest[0].lower() if len(rest) == 1 and _REF.match(rest[0].lower()) else None
    if rest and ref is None:
        return Reply(None, None, None)  # a sentence, not a command
    if head in WORDS:
        return Reply(WORDS[head], None, ref)
    if head.isdigit() and len(head) == 1 and 1 <= int(head) <= 5:
        return Reply(None, int(head), ref)
    return Reply(None, None, None)


SIGNATURE_HEADER = "X-Heartline-Signature"
TIMESTAMP_HEADER = "X-Heartline-Timestamp"
WINDOW_SECONDS = 300  # a signed webhook older or newer than this is a replay (or a wrong clock)


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The signature header value a provider (or its relay) sends:
    sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>."""
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Both headers a webhook call carries, for `timestamp` (unix seconds)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, body, timestamp)}


def team_key(secret: str, team_id: str) -> str:
    """A team's own signing key, derived from the inbound secret: one team's
    bot cannot sign a reply for another team."""
    return hmac.new(secret.encode(), f"team:{team_id}".encode(), hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, timestamp: str | None, header: str | None, now: float) -> bool:
    """Whether `header` signs `body` at `timestamp`, and `timestamp` is within
    WINDOW_SECONDS of `now` (unix seconds)."""
    if not header or not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(int(timestamp) - now) > WINDOW_SECONDS:
        return False
    given = header.strip()
    if not given.lower().startswith("sha256="):
        given = "sha256=" + given
    return hmac.compare_digest(given.lower().encode(), sign(secret, body, timestamp).encode())

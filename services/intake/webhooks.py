"""Partner webhooks, the pure part: what is sent, how it is signed, when a
failed delivery is tried again."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "Heartline-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>." + body>`.  Signing the
    timestamp with the body lets a receiver refuse old replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """What a receiver does with the header (and what the tests do)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def next_attempt(attempts: int, now: datetime, base_seconds: float, max_seconds: float) -> datetime:
    """Exponential backoff after the `attempts`-th failed try."""
    return now + timedelta(seconds=min(base_seconds * 2 ** (attempts - 1), max_seconds))

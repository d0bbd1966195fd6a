"""Logging for every service: one format, and no phone number in any line.

Code never logs names, addresses or descriptions on purpose; a phone can still
slip in through text that is not ours (a database's error DETAIL quoting a
key, a provider's error message, a traceback), so the formatter masks every
phone-shaped run of digits in the finished line, traceback included."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from shared.phones import mask_phone

# E.164 (+8613800138000), and mainland mobiles written nationally (13800138000).
_PHONE = re.compile(r"\+\d{7,15}\b|(?<![\d.:/-])1[3-9]\d{9}(?![\d.:/-])")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def scrub(text: str) -> str:
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure_logging(level: int = logging.INFO) -> None:
    """The root logger writes scrubbed lines to stderr; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler()
    handler.setFormatter(ScrubbingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


# Fields of an event that hold personal data (at any depth): free text, names,
# phones, addresses, a home's location, a chat bot's token.
PERSONAL_FIELDS = frozenset({"name", "phone", "address", "description", "comment", "reason", "text", "body",
                             "message", "location", "chat_url", "sender", "recipient", "to", "from"})
REMOVED = "[removed]"


def scrub_event_payload(raw: bytes) -> bytes:
    """An event's JSON with every personal field's value replaced; anything that
    is not JSON is dropped whole (it cannot be told apart)."""
    try:
        document = json.loads(raw)
    except ValueError:
        return json.dumps({"unparseable": REMOVED, "bytes": len(raw)}).encode()
    return json.dumps(_scrubbed(document), ensure_ascii=False).encode()


def _scrubbed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REMOVED if k in PERSONAL_FIELDS and v is not None else _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value

"""How many SMS segments a text takes, and keeping a text within a maximum.
Pure: no I/O.

A text made only of GSM 03.38 characters travels as GSM-7: 160 septets in one
segment, 153 per segment once concatenated (the rest is the UDH); characters
of the extension table take two septets (escape + char) and an escape pair is
never split across segments.  Anything else (Chinese, emoji, "…") makes the
whole message UCS-2: 70 UTF-16 units in one segment, 67 per concatenated
segment, and a surrogate pair is never split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "gsm7" | "ucs2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def _char_costs(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(costs: list[int], per_part: int) -> int:
    """Segments needed when no character (escape or surrogate pair) may straddle two."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return parts


def sms_size(text: str) -> SmsSize:
    gsm = is_gsm7(text)
    costs = _char_costs(text, gsm)
    units = sum(costs)
    single, part = (GSM_SINGLE, GSM_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    segments = 1 if units <= single else _pack(costs, part)
    return SmsSize("gsm7" if gsm else "ucs2", units, segments)


def _ellipsis(sample: str) -> str:
    # "…" is not GSM-7: using it would turn a GSM-7 text into UCS-2 and halve its room.
    return "..." if is_gsm7(sample) else "…"


def truncate(text: str, max_segments: int) -> str:
    """`text` itself if it fits in `max_segments`, else its longest prefix
    (with an ellipsis) that does."""
    if sms_size(text).segments <= max_segments:
        return text
    mark = _ellipsis(text)
    lo, hi = 0, len(text)  # the answer's prefix length is in [lo, hi)
    while lo < hi - 1:
        mid = (lo + hi) // 2
        if sms_size(text[:mid] + mark).segments <= max_segments:
            lo = mid
        else:
            hi = mid
    return text[:lo] + mark


def fit(render: Callable[[str], str], free_text: str, max_segments: int) -> str:
    """Renders a message within `max_segments`, shortening `free_text` (a
    summary or reason, the part that may lose words) before anything else;
    if the fixed words alone are too long the whole text is cut."""
    whole = render(free_text)
    if sms_size(whole).segments <= max_segments:
        return whole
    mark = _ellipsis(render(""))
    best: str | None = None
    lo, hi = 0, len(free_text)
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = render(free_text[:mid] + mark if mid else "")
        if sms_size(candidate).segments <= max_segments:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else truncate(render(""), max_segments)

"""QR codes for a community's request form (segno)."""

from __future__ import annotations

import io

import segno


def render(url: str, fmt: str) -> tuple[bytes, str]:
    """The QR code for `url` as (bytes, media type); fmt is svg or png."""
    code = segno.make(url, error="m")
    out = io.BytesIO()
    if fmt == "png":
        code.save(out, kind="png", scale=8, border=4)
        return out.getvalue(), "image/png"
    code.save(out, kind="svg", scale=8, border=4, xmldecl=True, title="Heartline")
    return out.getvalue(), "image/svg+xml"

"""Phone numbers: one strictness for every door, one mask for every view and log.

Numbers are E.164, checked against the numbering plans (phonenumbers), so a
mistyped mobile is refused at the door, not at the SMS gateway."""

from __future__ import annotations

import re

import phonenumbers

# For OpenAPI documents: the shape only; `parse_phone` is the real check.
E164_PATTERN = r"^\+[1-9]\d{6,14}$"

# "+", then digits with the usual separators; phonenumbers alone is lenient
# about stray characters ("++86...", letters as keypad digits).
_INTERNATIONAL = re.compile(r"^\+\d[\d\s\-().]{5,24}$")
_NATIONAL = re.compile(r"^\d[\d\s\-().]{5,24}$")


def parse_phone(raw: str, *, national_region: str | None = None) -> str:
    """The number in E.164 form, or ValueError saying what is wrong with it.

    Strict by default: international form only (partners and coordinators
    serve people of many regions).  The lenient mode, for a community's own
    forms, also takes national numbers of `national_region` ("CN": 13800138000)."""
    text = raw.strip()
    if national_region and _NATIONAL.match(text):
        try:
            number = phonenumbers.parse(text, national_region)
        except phonenumbers.NumberParseException:
            raise ValueError("is not a phone number") from None
        return _valid_e164(number)
    if not text.startswith("+"):
        raise ValueError("must be in international E.164 form, starting with + and the country code")
    if not _INTERNATIONAL.match(text):
        raise ValueError("must be + and the country code followed by digits only")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number ({exc._msg})") from None
    return _valid_e164(number)


def _valid_e164(number: phonenumbers.PhoneNumber) -> str:
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """+8613900139000 -> +86139****9000: enough to recognise, not to call."""
    if len(phone) < 8:
        return "****"
    keep_head = min(6, len(phone) - 8)
    return phone[:keep_head] + "*" * (len(phone) - keep_head - 4) + phone[-4:]

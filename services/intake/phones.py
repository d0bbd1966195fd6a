"""Phone numbers as E.164, checked against the numbering plans (phonenumbers),
so that a mistyped mainland mobile is refused at the door, not at the SMS gateway."""

import re

import phonenumbers

# "+", then digits with the usual separators; phonenumbers alone is lenient
# about stray characters ("++86...", letters as keypad digits).
_SHAPE = re.compile(r"^\+\d[\d\s\-().]{5,24}$")


_NATIONAL = re.compile(r"^\d[\d\s\-().]{5,24}$")


def normalise_e164(raw: str, default_region: str | None = None) -> str:
    """The number in E.164 form, or ValueError saying what is wrong with it.
    Partners must send international form (they serve callers of many
    regions); a community's own form may take national numbers of
    `default_region` ("CN": 13800138000)."""
    text = raw.strip()
    if default_region and _NATIONAL.match(text):
        try:
            number = phonenumbers.parse(text, default_region)
        except phonenumbers.NumberParseException:
            raise ValueError("is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("is not a valid number in its country's numbering plan")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not text.startswith("+"):
        raise ValueError("must be in international E.164 form, starting with + and the country code")
    if not _SHAPE.match(text):
        raise ValueError("must be + and the country code followed by digits only")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

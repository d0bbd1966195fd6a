"""Open311 GeoReport v2, the pure part: the spec's field names, formats
(JSON and XML), date format and error format, and how a GeoReport form maps
onto a Heartline request.  https://wiki.open311.org/GeoReport_v2"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from pydantic import ValidationError

from .categories import CATALOGUE
from .schemas import RequestIn

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# Heartline's public statuses behind Open311's two.
CLOSED = ("done", "closed", "cancelled")
OPEN = ("received", "assigned", "in_progress", "escalated")

URGENCY_VALUES = [("low", "Low"), ("normal", "Normal"), ("high", "High"), ("critical", "Critical")]
VULNERABILITY_VALUES = [("elderly_alone", "Elderly living alone"), ("disabled", "Disabled"),
                        ("isolated", "In isolation"), ("no_smartphone", "No smartphone")]

# Where a Heartline field came from in the GeoReport form, for error messages.
_FORM_NAMES = {
    "category": "service_code", "description": "description", "location": "lat",
    "location.lat": "lat", "location.lon": "long", "location.address": "address_string",
    "location.community": "attribute[community]", "requester.phone": "phone",
    "requester.name": "first_name", "requester.locale": "attribute[locale]",
    "urgency": "attribute[urgency]", "people": "attribute[people]",
    "vulnerabilities": "attribute[vulnerabilities]",
}


def w3c(moment: datetime | None) -> str | None:
    """The spec's date format: ISO 8601 with a UTC offset, to the second."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_w3c(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset")
    return moment


def heartline_statuses(open311_statuses: list[str]) -> list[str]:
    """The public statuses that Open311's `open` and `closed` stand for."""
    return [s for status in open311_statuses for s in (CLOSED if status == "closed" else OPEN)]


def error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


def services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": c.name_en,
            "description": f"{c.name_zh} / {c.name_en}",
            "metadata": True,
            "type": "realtime",
            "keywords": f"{c.name_zh}, {c.code.replace('_', ' ')}",
            "group": "volunteer help" if c.needs_volunteer else "coordinator",
        }
        for c in CATALOGUE.values()
    ]


def service_definition(code: str) -> dict[str, Any]:
    def values(pairs):
        return [{"key": k, "name": n} for k, n in pairs]

    attributes = [
        ("people", "number", False, "How many people the request is for (default 1)", None),
        ("urgency", "singlevaluelist", False, "How urgent (default normal)", values(URGENCY_VALUES)),
        ("vulnerabilities", "multivaluelist", False, "Who is asking", values(VULNERABILITY_VALUES)),
        ("community", "string", False,
         "Community code; with address_string, places a request that has no lat/long", None),
        ("locale", "singlevaluelist", False, "Language for messages to the requester",
         values([("zh-CN", "中文"), ("en", "English")])),
    ]
    return {
        "service_code": code,
        "attributes": [
            {"variable": True, "code": name, "datatype": datatype, "required": required,
             "datatype_description": None, "order": order, "description": description,
             **({"values": vals} if vals is not None else {})}
            for order, (name, datatype, required, description, vals) in enumerate(attributes, 1)
        ],
    }


def request_from_form(form: Mapping[str, Any], getlist) -> tuple[RequestIn | None, list[dict[str, Any]]]:
    """A GeoReport POST as a Heartline request, or the spec's errors (400)."""
    errors: list[dict[str, Any]] = []

    def field(name: str) -> str | None:
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def number(name: str) -> float | None:
        raw = field(name)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            errors.append(error(400, f"{name}: is not a number"))
            return None

    if field("service_code") is None:
        errors.append(error(400, "service_code: required"))
    lat, lon = number("lat"), number("long")
    location: dict[str, Any] = {"lat": lat, "lon": lon}
    if lat is None and lon is None:
        location = {"address": field("address_string"), "community": field("attribute[community]")}
    elif field("attribute[community]"):
        location["community"] = field("attribute[community]")
    name = " ".join(n for n in (field("first_name"), field("last_name")) if n) or None
    vulnerabilities = [v for raw in getlist("attribute[vulnerabilities][]") + getlist("attribute[vulnerabilities]")
                       for v in str(raw).split(",") if v.strip()]
    people = field("attribute[people]")
    candidate = {
        "category": field("service_code"),
        "description": field("description"),
        "location": location,
        "requester": {"name": name, "phone": field("phone"),
                      **({"locale": field("attribute[locale]")} if field("attribute[locale]") else {})},
        **({"urgency": field("attribute[urgency]")} if field("attribute[urgency]") else {}),
        **({"people": people} if people else {}),
        "vulnerabilities": [v.strip() for v in vulnerabilities],
        "source": "partner",
    }
    if errors:
        return None, errors
    try:
        return RequestIn.model_validate(candidate), []
    except ValidationError as exc:
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"][:2])
            name_in_form = _FORM_NAMES.get(loc) or _FORM_NAMES.get(str(e["loc"][0]), loc)
            reason = "required" if e["type"] in ("missing", "none_required", "string_type") and \
                e.get("input") is None else e["msg"]
            errors.append(error(400, f"{name_in_form}: {reason}"))
        return None, errors


def service_request(row, *, full: bool) -> dict[str, Any]:
    """One request in the spec's shape.  Without the owner's api_key (`full`
    False) nothing that could identify the requester is shown: no description,
    no address, and the place rounded to about a kilometre."""
    category = CATALOGUE[row.category]
    lat, lon = (row.lat, row.lon) if full else (round(row.lat, 2), round(row.lon, 2))
    status = row.status
    return {
        "service_request_id": str(row.id),
        "status": "closed" if status in CLOSED else "open",
        "status_notes": status,
        "service_name": category.name_en,
        "service_code": row.category,
        "description": row.description if full else None,
        "agency_responsible": "Community volunteers" if category.needs_volunteer else "Community coordinators",
        "service_notice": notice(row.category),
        "requested_datetime": w3c(row.received_at),
        "updated_datetime": w3c(row.updated_at),
        "expected_datetime": w3c(row.expected_by),  # dispatch's promise, once it has made one
        "address": row.address if full else None,
        "address_id": row.community,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }


def notice(category: str) -> str:
    if CATALOGUE[category].needs_volunteer:
        return "A volunteer team near you is being found; you will be contacted."
    return "A community coordinator will reply."


# --- rendering ---------------------------------------------------------------------------


def _xml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _append(parent: ElementTree.Element, tag: str, value: Any) -> None:
    child = ElementTree.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _append(child, key, inner)
    elif isinstance(value, list):
        item_tag = {"attributes": "attribute", "values": "value"}.get(tag, "item")
        for inner in value:
            _append(child, item_tag, inner)
    else:
        child.text = _xml_value(value)


def to_xml(root: str, item: str | None, payload: Any) -> bytes:
    """`payload` as the spec's XML: a list becomes <root><item>…</item>…</root>,
    a mapping becomes <root>…</root>."""
    element = ElementTree.Element(root)
    if isinstance(payload, list):
        for entry in payload:
            _append(element, item or "item", entry)
    else:
        for key, value in payload.items():
            _append(element, key, value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(element, encoding="unicode").encode()

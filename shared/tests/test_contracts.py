"""Every event's JSON schema is frozen once it ships: a change that keeps the
version fails here, unless it only adds optional fields (consumers ignore
unknown fields) and the snapshot was refreshed.  `python -m shared.contracts.snapshot`
writes new events' snapshots and refreshes additive ones; it refuses the rest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contracts import EVENTS, Event
from shared.contracts.snapshot import SCHEMAS, breaking_changes, schema_text, snapshot_path


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_schema_matches_its_snapshot(event_type: str) -> None:
    path = snapshot_path(event_type)
    assert path.exists(), f"no snapshot for {event_type}: run python -m shared.contracts.snapshot"
    assert schema_text(event_type) == path.read_text(), (
        f"{event_type} changed but kept its version: add {event_type[:-1]}{int(event_type[-1]) + 1} "
        "as a new class instead of editing this one"
    )


def _schema(required: list[str], **properties: dict[str, object]) -> dict[str, object]:
    return {"$defs": {"Data": {"properties": properties, "required": required, "type": "object"}},
            "properties": {"data": {"$ref": "#/$defs/Data"}}, "type": "object"}


def test_an_added_optional_field_is_additive_and_anything_else_breaks() -> None:
    old = _schema(["status"], status={"type": "string"})
    assert breaking_changes(old, _schema(["status"], status={"type": "string"}, note={"type": "string"})) == []
    assert breaking_changes(old, _schema(["status", "note"], status={"type": "string"}, note={"type": "string"}))
    assert breaking_changes(old, _schema(["status"], status={"type": "integer"}))
    assert breaking_changes(old, _schema([], status={"type": "string"}))
    assert breaking_changes(old, _schema(["status"]))


def test_every_snapshot_still_has_its_event() -> None:
    """A shipped version may be deprecated, never silently dropped."""
    orphans = {p.name[: -len(".json")] for p in SCHEMAS.glob("*.json")} - set(EVENTS)
    assert not orphans


def test_type_names_follow_the_convention() -> None:
    for event_type, cls in EVENTS.items():
        assert event_type.startswith("aid.") and event_type.count(".") == 3
        assert cls.__name__.endswith(event_type.rsplit(".v", 1)[1]) and issubclass(cls, Event)


def test_a_class_without_its_version_in_the_name_is_refused() -> None:
    from typing import Literal

    with pytest.raises(TypeError, match="version"):
        class RequestSomething(Event):
            type: Literal["aid.request.something.v1"] = "aid.request.something.v1"


def test_events_are_frozen_and_round_trip() -> None:
    from shared.contracts import RequestCancelledV1

    event = RequestCancelledV1(
        source="heartline/intake", correlationid="r1",
        data={"request_id": "2f1e8a0e-8d7c-4b8e-9a51-7f6d1c2b3a40", "cancelled_by": "partner",
              "cancelled_at": "2026-11-21T08:00:00Z"},
    )
    with pytest.raises(ValidationError):
        event.source = "someone else"
    assert RequestCancelledV1.model_validate_json(event.model_dump_json()) == event

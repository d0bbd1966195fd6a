"""Every event's JSON schema is frozen once it ships: a change that keeps the
version fails here.  New events: `python -m shared.contracts.snapshot`."""

from __future__ import annotations

import pytest

from shared.contracts import EVENTS, Event
from shared.contracts.snapshot import SCHEMAS, schema_text, snapshot_path


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_schema_matches_its_snapshot(event_type: str) -> None:
    path = snapshot_path(event_type)
    assert path.exists(), f"no snapshot for {event_type}: run python -m shared.contracts.snapshot"
    assert schema_text(event_type) == path.read_text(), (
        f"{event_type} changed but kept its version: add {event_type[:-1]}{int(event_type[-1]) + 1} "
        "as a new class instead of editing this one"
    )


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
        class RequestSomething(Event):  # noqa: F841
            type: Literal["aid.request.something.v1"] = "aid.request.something.v1"


def test_events_are_frozen_and_round_trip() -> None:
    from shared.contracts import RequestCancelledV1

    event = RequestCancelledV1(
        source="heartline/intake", correlationid="r1",
        data={"request_id": "2f1e8a0e-8d7c-4b8e-9a51-7f6d1c2b3a40", "cancelled_by": "partner",
              "cancelled_at": "2026-11-21T08:00:00Z"},
    )
    with pytest.raises(Exception):
        event.source = "someone else"
    assert RequestCancelledV1.model_validate_json(event.model_dump_json()) == event

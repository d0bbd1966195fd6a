"""`python -m shared.contracts.snapshot`: writes the JSON schema of every event
that has no snapshot yet.  It never overwrites one: an event whose schema must
change gets a new version (a new class and type) instead."""

from __future__ import annotations

import json
from pathlib import Path

from . import EVENTS

SCHEMAS = Path(__file__).parent / "schemas"


def schema_text(event_type: str) -> str:
    return json.dumps(EVENTS[event_type].model_json_schema(), indent=2, sort_keys=True) + "\n"


def snapshot_path(event_type: str) -> Path:
    return SCHEMAS / f"{event_type}.json"


def main() -> None:
    SCHEMAS.mkdir(exist_ok=True)
    for event_type in sorted(EVENTS):
        path = snapshot_path(event_type)
        if not path.exists():
            path.write_text(schema_text(event_type))
            print(f"wrote {path.name}")


if __name__ == "__main__":
    main()

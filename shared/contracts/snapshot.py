"""`python -m shared.contracts.snapshot`: writes the JSON schema of every event
that has no snapshot yet, and refreshes one whose event only gained optional
fields (consumers ignore unknown fields, so that change is safe in place).
Any other change is refused: it needs a new version (a new class and type)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import EVENTS

SCHEMAS = Path(__file__).parent / "schemas"


def schema_text(event_type: str) -> str:
    return json.dumps(EVENTS[event_type].model_json_schema(), indent=2, sort_keys=True) + "\n"


def snapshot_path(event_type: str) -> Path:
    return SCHEMAS / f"{event_type}.json"


def breaking_changes(old: Any, new: Any, where: str = "") -> list[str]:
    """What in `new` a consumer built on `old` could trip on; empty when `new`
    only adds optional properties (and the definitions they use)."""
    if isinstance(old, dict) and isinstance(new, dict):
        problems: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            path = f"{where}/{key}"
            if key not in new:
                problems.append(f"{path} was removed")
            elif key not in old:
                if key not in ("properties", "$defs") and not where.endswith(("/properties", "/$defs")):
                    problems.append(f"{path} was added")
            elif key == "required":
                if set(new[key]) != set(old[key]):
                    problems.append(f"{path} changed from {sorted(old[key])} to {sorted(new[key])}")
            else:
                problems += breaking_changes(old[key], new[key], path)
        return problems
    return [] if old == new else [f"{where or '/'} changed from {old!r} to {new!r}"]


def main() -> int:
    SCHEMAS.mkdir(exist_ok=True)
    refused = 0
    for event_type in sorted(EVENTS):
        path = snapshot_path(event_type)
        current = schema_text(event_type)
        if not path.exists():
            path.write_text(current)
            print(f"wrote {path.name}")
        elif path.read_text() != current:
            problems = breaking_changes(json.loads(path.read_text()), json.loads(current))
            if problems:
                refused += 1
                print(f"refused {path.name}: needs a new version", *problems, sep="\n  ")
            else:
                path.write_text(current)
                print(f"refreshed {path.name}: optional fields added")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())

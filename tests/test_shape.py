"""The shape a newcomer relies on: every service has the same files, SQL lives
only in stores, use cases never commit, and no module grows past a screenful
of aggregates.  Each check reads the source, so it fails the moment the shape slips."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())

# Every service: the factory, its settings, the three doors, the tables and the SQL.
COMMON_FILES = ("__init__.py", "__main__.py", "app.py", "settings.py", "api.py", "handlers.py", "loops.py",
                "store.py", "models.py", "schemas.py", "migrations/env.py")
# Building statements is the store's job; models.py declares tables with Column etc.
STORE_ONLY = {"select", "insert", "update", "delete", "text", "bindparam", "literal_column", "union_all"}
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for service in SERVICES for p in service.rglob("*.py")
                  if "migrations" not in p.parts and "tests" not in p.parts)


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_there_are_four_services() -> None:
    assert {s.name for s in SERVICES} >= {"intake", "volunteers", "dispatch", "notify"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_every_service_has_the_common_files(service: Path) -> None:
    missing = [name for name in COMMON_FILES if not (service / name).exists()]
    assert not missing, f"{service.name} lacks {missing}"


def _is_store(path: Path) -> bool:
    """store.py, or a store of one hot path beside it (intake's submission_store.py)."""
    return path.name == "store.py" or path.name.endswith("_store.py")


def store_only_uses(source: str, *, in_models: bool = False) -> list[int]:
    """Lines that build a SQL statement (models.py may use `text` for server defaults)."""
    allowed = {"text"} if in_models else set()
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            lines += [node.lineno for a in node.names if a.name in STORE_ONLY - allowed]
        if isinstance(node, ast.Attribute) and node.attr in STORE_ONLY - allowed and \
                isinstance(node.value, ast.Name) and node.value.id in {"sa", "sqlalchemy"}:
            lines.append(node.lineno)
    return lines


def commits(source: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]


def test_statements_are_built_only_in_stores() -> None:
    offenders = [f"{_label(path)}:{line}" for path in _modules() if not _is_store(path)
                 for line in store_only_uses(path.read_text(), in_models=path.name == "models.py")]
    assert not offenders, "SQL outside store.py: " + ", ".join(offenders)


def test_use_cases_never_commit() -> None:
    """The door's `Database.transaction()` commits, once: a use case that commits
    could not share a transaction with another, nor with its outbox row."""
    offenders = [f"{_label(path)}:{line}" for path in _modules() for line in commits(path.read_text())]
    assert not offenders, "commit() called in: " + ", ".join(offenders)


def test_the_probes_see_what_they_look_for() -> None:
    """So that a pass above means something."""
    assert store_only_uses("from sqlalchemy import select, Column\n") == [1]
    assert store_only_uses("import sqlalchemy as sa\nq = sa.update(t)\n") == [2]
    assert store_only_uses("from sqlalchemy import text\n", in_models=True) == []
    assert store_only_uses("from sqlalchemy import Column, Table\n") == []
    assert commits("async def f(s):\n    await s.commit()\n") == [2]
    assert commits("async def f(db):\n    async with db.transaction():\n        pass\n") == []


def test_modules_are_short_and_say_what_they_hold() -> None:
    too_long, unexplained = [], []
    for path in _modules():
        source = path.read_text()
        if source.count("\n") > MAX_LINES:
            too_long.append(f"{_label(path)} ({source.count(chr(10))} lines)")
        docstring = ast.get_docstring(ast.parse(source))
        if path.name != "__init__.py" and not (docstring and docstring.strip()):
            unexplained.append(_label(path))
    assert not too_long, f"longer than {MAX_LINES} lines: {too_long}"
    assert not unexplained, f"no docstring saying what the module holds: {unexplained}"

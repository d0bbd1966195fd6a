"""The README's subject map and settings tables match the code."""

from tests.support.docs import README, render


def test_readme_is_current() -> None:
    current = README.read_text()
    assert render(current) == current, "the README is out of date: run python -m tests.support.docs"


def test_the_subject_map_covers_the_thin_path() -> None:
    table = render(README.read_text())
    for subject in ("aid.team.changed.v1", "aid.request.received.v1",
                    "aid.assignment.offered.v1", "aid.request.status_changed.v1"):
        assert f"`{subject}`" in table

"""Message templates: every one in every locale, overridable without code, sandboxed and strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from services.notify.templates import LOCALES, SHIPPED, MessageTemplates


def test_every_template_exists_in_every_locale() -> None:
    names = {p.stem for p in (SHIPPED / "zh-CN").glob("*.txt")}
    assert len(names) >= 10
    for locale in LOCALES:
        assert {p.stem for p in (SHIPPED / locale).glob("*.txt")} == names


def test_a_deployment_overrides_a_template_without_code(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "request_received.txt").write_text("Got it: {{ reference }} ({{ category_name }})")
    templates = MessageTemplates(tmp_path)
    assert templates.render("request_received", "en", reference="HL-1", category="medicine") == "Got it: HL-1 (medicine)"
    # Others still come from the shipped set; an unknown locale falls back to zh-CN.
    assert templates.render("request_received", "fr", reference="HL-1", category="medicine").startswith("【社区互助】")


def test_templates_run_in_a_sandbox_and_fail_on_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "request_received.txt").write_text("{{ reference.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        MessageTemplates(tmp_path).render("request_received", "en", reference="x", category="other")
    with pytest.raises(UndefinedError):
        MessageTemplates().render("request_received", "en", category="other")


def test_the_assigned_message_states_the_promised_time_only_when_there_is_one() -> None:
    templates = MessageTemplates()
    values = dict(reference="HL-1", team_name="Sunrise")
    assert templates.render("requester_assigned", "zh-CN", **values, expected_at="14:30") == (
        "【社区互助】您的求助 HL-1 已由志愿队「Sunrise」接单，预计 14:30 前联系您。")
    assert templates.render("requester_assigned", "zh-CN", **values, expected_at="") == (
        "【社区互助】您的求助 HL-1 已由志愿队「Sunrise」接单，将尽快联系您。")
    assert templates.render("requester_assigned", "en", **values, expected_at="14:30").endswith(
        '"Sunrise". Expect them by 14:30.')
    assert "Expect" not in templates.render("requester_assigned", "en", **values, expected_at="")

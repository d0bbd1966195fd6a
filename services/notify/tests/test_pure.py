"""Notify's pure parts: SMS segments, quiet hours, the rate limiter, reading
replies, webhook signatures, and the sandboxed templates."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError, UndefinedError

from services.notify.quiet import quiet_until
from services.notify.ratelimit import SlidingWindowLimiter
from services.notify.replies import Reply, parse_reply, sign, signature_valid
from services.notify.segments import GSM_BASIC, fit, sms_size, truncate
from services.notify.templates import LOCALES, SHIPPED, MessageTemplates

# --- segments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, encoding, segments", [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("a" * 306, "gsm7", 2), ("a" * 307, "gsm7", 3),
    ("€" * 80, "gsm7", 1), ("€" * 81, "gsm7", 2),  # extension characters count twice
    ("a" * 152 + "€" + "a" * 10, "gsm7", 2),  # an escape pair is not split, 153+10 fits in 2
    ("中" * 70, "ucs2", 1), ("中" * 71, "ucs2", 2), ("中" * 134, "ucs2", 2), ("中" * 135, "ucs2", 3),
    ("a" * 69 + "…", "ucs2", 1), ("😀" * 35, "ucs2", 1), ("😀" * 36, "ucs2", 2),
])
def test_segments_are_counted_as_the_network_does(text, encoding, segments) -> None:
    size = sms_size(text)
    assert (size.encoding, size.segments) == (encoding, segments)


texts = st.text(alphabet=st.sampled_from(sorted(GSM_BASIC) + list("中文€😀…")), max_size=800)


@given(texts, st.integers(1, 5))
def test_truncate_always_fits_and_keeps_a_prefix(text, max_segments) -> None:
    cut = truncate(text, max_segments)
    assert sms_size(cut).segments <= max_segments
    assert cut == text or text.startswith(cut.rstrip(".…")[: max(len(cut) - 3, 0)])


@given(st.text(max_size=600), st.integers(1, 4))
@settings(max_examples=60)
def test_fit_shortens_the_free_text_and_keeps_the_fixed_words(free, max_segments) -> None:
    message = fit(lambda s: f"Task ab12: {s}\nReply 1 to accept.", free, max_segments)
    assert sms_size(message).segments <= max_segments
    assert message.endswith("Reply 1 to accept.")


# --- quiet hours ------------------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
       st.integers(0, 23), st.integers(0, 23))
def test_quiet_until_is_the_next_end_of_the_window_or_none(now, start_hour, end_hour) -> None:
    start, end = time(start_hour), time(end_hour)
    until = quiet_until(now, start, end, SHANGHAI)
    local = now.astimezone(SHANGHAI).time()
    inside = (start <= local < end) if start < end else (local >= start or local < end) if start != end else False
    assert (until is not None) == inside
    if until is not None:
        assert now < until <= now + timedelta(hours=24)
        assert until.astimezone(SHANGHAI).time() == end


def test_quiet_hours_across_midnight() -> None:
    start, end = time(22), time(7)
    at_2330 = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    assert quiet_until(at_2330, start, end, SHANGHAI) == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    at_0630 = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    assert quiet_until(at_0630, start, end, SHANGHAI) == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 11, 21, 6, 0, tzinfo=UTC), start, end, SHANGHAI) is None


# --- rate limit -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(1, 50), st.lists(st.floats(0, 0.3), min_size=1, max_size=300))
def test_no_window_of_one_second_holds_more_than_the_rate(rate, steps) -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(rate, clock)
    sent = []
    for step in steps:
        clock.now += step
        if limiter.try_take():
            sent.append(clock.now)
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 1.0) <= int(rate)


def test_the_limiter_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock)
    assert limiter.try_take() and limiter.try_take() and not limiter.try_take()
    assert limiter.delay() == pytest.approx(1.0)
    clock.now = 1.0
    assert limiter.try_take()
    slow = SlidingWindowLimiter(0.5, clock)
    assert slow.try_take() and not slow.try_take() and slow.delay() == pytest.approx(2.0)


# --- replies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, reply", [
    ("1", Reply(None, 1, None)), (" １。", Reply(None, 1, None)), ("5", Reply(None, 5, None)),
    ("accept", Reply("accept", None, None)), ("接受", Reply("accept", None, None)),
    ("2", Reply(None, 2, None)), ("拒绝", Reply("decline", None, None)), ("Decline!", Reply("decline", None, None)),
    ("done", Reply("complete", None, None)), ("完成", Reply("complete", None, None)),
    ("STOP", Reply("stop", None, None)), ("退订", Reply("stop", None, None)), ("start", Reply("start", None, None)),
    ("1 AB12cd34", Reply(None, 1, "ab12cd34")), ("接受ab12cd34", Reply("accept", None, "ab12cd34")),
    ("6", Reply(None, None, None)), ("12", Reply(None, None, None)), ("", Reply(None, None, None)),
    ("stop sending me these", Reply(None, None, None)), ("when will they come?", Reply(None, None, None)),
])
def test_replies_are_read_in_both_languages(text, reply) -> None:
    assert parse_reply(text) == reply


@given(st.binary(max_size=300), st.text(min_size=1, max_size=40))
def test_only_the_right_signature_of_the_exact_body_is_valid(body, secret) -> None:
    good = sign(secret, body)
    assert signature_valid(secret, body, good)
    assert signature_valid(secret, body, good.removeprefix("sha256="))
    assert not signature_valid(secret + "x", body, good)
    assert not signature_valid(secret, body + b"x", good)
    assert not signature_valid(secret, body, None)


# --- templates --------------------------------------------------------------------------------


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

"""Replies read in both languages, and webhook signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.replies import WINDOW_SECONDS, Reply, parse_reply, sign, signature_valid, team_key

NOW = 1_790_000_000
AT = str(NOW)


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
    good = sign(secret, body, AT)
    assert signature_valid(secret, body, AT, good, NOW)
    assert signature_valid(secret, body, AT, good.removeprefix("sha256="), NOW)
    assert not signature_valid(secret + "x", body, AT, good, NOW)
    assert not signature_valid(secret, body + b"x", AT, good, NOW)
    assert not signature_valid(secret, body, AT, None, NOW)
    # The timestamp is signed too: another one with the same signature is refused.
    assert not signature_valid(secret, body, str(NOW + 1), good, NOW)
    assert not signature_valid(secret, body, None, good, NOW)


def test_a_signature_is_good_for_five_minutes_either_side() -> None:
    body = b'{"from": "+8613900139000", "text": "1"}'
    for skew in (-WINDOW_SECONDS, 0, WINDOW_SECONDS):
        at = str(NOW + skew)
        assert signature_valid("s", body, at, sign("s", body, at), NOW)
    for skew in (-WINDOW_SECONDS - 1, WINDOW_SECONDS + 1, -86400):  # a replay, or a clock far off
        at = str(NOW + skew)
        assert not signature_valid("s", body, at, sign("s", body, at), NOW)
    assert not signature_valid("s", body, "-5", sign("s", body, "-5"), NOW)
    assert not signature_valid("s", body, "1e9", sign("s", body, "1e9"), NOW)


def test_each_team_has_its_own_key() -> None:
    assert team_key("secret", "a") != team_key("secret", "b")
    assert team_key("secret", "a") != team_key("other", "a") and len(team_key("secret", "a")) == 64

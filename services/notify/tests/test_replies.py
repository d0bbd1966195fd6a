"""Replies read in both languages, and webhook signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.replies import Reply, parse_reply, sign, signature_valid


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

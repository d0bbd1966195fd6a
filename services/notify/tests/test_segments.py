"""SMS segments: counted as the network does; a text cut or fitted always fits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.segments import GSM_BASIC, fit, sms_size, truncate


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

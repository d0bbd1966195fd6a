"""No phone number reaches a log line, whatever carried it there."""

from __future__ import annotations

import json
import logging
import sys

from shared.logs import ScrubbingFormatter, scrub, scrub_event_payload


def test_phones_are_masked_wherever_they_stand() -> None:
    assert scrub("sent to +8613800138000") == "sent to +86138****8000"
    assert scrub('Key (phone)=(13800138000) already exists') == 'Key (phone)=(138****8000) already exists'
    assert "8613900139000" not in scrub("a: +8613900139000, b: +8613800138000")


def test_ids_times_and_counts_are_left_alone() -> None:
    for text in ("request 2f1e8a0e-8d7c-4b8e-9a51-7f6d1c2b3a40", "2026-12-02 17:18:09,123", "took 13800138 us",
                 "port 8001", "at 1733150000.123456"):
        assert scrub(text) == text


def test_the_formatter_masks_arguments_and_tracebacks() -> None:
    formatter = ScrubbingFormatter("%(message)s")
    try:
        raise ValueError("gateway refused +8613800138000")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "sending to %s failed", ("+8613800138000",),
                                   exc_info=sys.exc_info())
    line = formatter.format(record)
    assert "ValueError" in line and "+86138****8000" in line and "8613800138000" not in line


def test_an_event_keeps_its_ids_and_loses_its_personal_fields() -> None:
    raw = json.dumps({"id": "e1", "type": "aid.request.received.v1", "data": {
        "request_id": "r1", "category": "medicine", "description": "insulin for Li Na",
        "location": {"lat": 30.5, "lon": 114.3, "address": "6 Jianghan Rd"},
        "requester": {"name": "Li Na", "phone": "+8613800138000", "locale": "zh-CN"}}}).encode()
    kept = json.loads(scrub_event_payload(raw))
    assert kept["id"] == "e1" and kept["data"]["category"] == "medicine" and kept["data"]["request_id"] == "r1"
    assert kept["data"]["requester"] == {"name": "[removed]", "phone": "[removed]", "locale": "zh-CN"}
    assert kept["data"]["description"] == kept["data"]["location"] == "[removed]"
    assert json.loads(scrub_event_payload(b"\x00not json")) == {"unparseable": "[removed]", "bytes": 9}

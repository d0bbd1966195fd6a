"""The public doors' guards: the client address behind proxies, and the form token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.public_doors import (
    ChallengeFailed,
    client_address,
    issue_form_token,
    solve,
    solves,
    trusted_networks,
    verify_form_token,
)

PROXIES = trusted_networks(["10.0.0.0/8", "127.0.0.1/32"])
SECRET = b"s" * 32
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("peer,forwarded,expected", [
    ("203.0.113.9", None, "203.0.113.9"),
    ("203.0.113.9", "1.2.3.4", "203.0.113.9"),          # not our proxy: its header is the client's word
    ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
    ("10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client prepended a fake hop
    ("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7"),  # two of our proxies
    ("10.0.0.2", "not-an-ip", "not-an-ip"),
])
def test_the_client_is_who_our_proxies_say_and_no_one_else(peer, forwarded, expected) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_a_solved_token_verifies_once_its_work_is_done() -> None:
    token = issue_form_token(SECRET, form="request", now=NOW, lifetime_seconds=600, bits=8)
    solution = solve(token, 8)
    claims = verify_form_token(SECRET, token, form="request", solution=solution, now=NOW + timedelta(seconds=30))
    assert claims.form == "request" and claims.bits == 8 and len(claims.nonce) >= 16
    other = issue_form_token(SECRET, form="request", now=NOW, lifetime_seconds=600, bits=8)
    assert verify_form_token(SECRET, other, form="request", solution=solve(other, 8), now=NOW).nonce != claims.nonce


@pytest.mark.parametrize("change,reason", [
    (lambda t, s: (t, next(str(i) for i in range(1000) if not solves(t, str(i), 8)), NOW, "request"), "check"),
    (lambda t, s: (t, s, NOW + timedelta(seconds=601), "request"), "expired"),
    (lambda t, s: (t, s, NOW, "registration"), "another form"),
    (lambda t, s: ("A" + t[1:], s, NOW, "request"), "not one this server issued"),
    (lambda t, s: (t.split(".")[0] + ".", s, NOW, "request"), "not one this server issued"),
    (lambda t, s: ("garbage", s, NOW, "request"), "not one this server issued"),
])
def test_a_forged_stale_or_unworked_token_is_refused(change, reason) -> None:
    token = issue_form_token(SECRET, form="request", now=NOW, lifetime_seconds=600, bits=8)
    token, solution, at, form = change(token, solve(token, 8))
    with pytest.raises(ChallengeFailed, match=reason):
        verify_form_token(SECRET, token, form=form, solution=solution, now=at)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_form_token(b"t" * 32, form="request", now=NOW, lifetime_seconds=600, bits=0)
    with pytest.raises(ChallengeFailed, match="not one this server issued"):
        verify_form_token(SECRET, token, form="request", solution="0", now=NOW)

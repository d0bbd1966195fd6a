"""Coordinator tokens: short-lived, for named services, revocable, never admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.http import Revocations, issue_coordinator_token, read_coordinator_token

SECRET = "s" * 32


def test_a_token_names_its_coordinator_scope_id_and_expiry() -> None:
    token, token_id = issue_coordinator_token(SECRET, subject="coordinator:1", communities=["jianghan"],
                                              ttl=timedelta(hours=8))
    principal = read_coordinator_token(SECRET, token, service="dispatch")
    assert principal is not None and principal.role == "coordinator" and principal.token_id == token_id
    assert principal.communities == {"jianghan"}
    assert timedelta(hours=7.9) < principal.expires_at - datetime.now(UTC) <= timedelta(hours=8)


def test_a_token_works_only_for_the_services_it_names() -> None:
    token, _ = issue_coordinator_token(SECRET, subject="c", communities=["x"], ttl=timedelta(hours=1),
                                       services=["dispatch"])
    assert read_coordinator_token(SECRET, token, service="dispatch") is not None
    assert read_coordinator_token(SECRET, token, service="volunteers") is None


def test_revoked_expired_forged_and_admin_tokens_are_refused() -> None:
    token, token_id = issue_coordinator_token(SECRET, subject="c", communities=["x"], ttl=timedelta(hours=1))
    revoked = Revocations()
    revoked.revoke(token_id, datetime.now(UTC) + timedelta(hours=1))
    assert read_coordinator_token(SECRET, token, service="intake", revoked=revoked) is None
    expired, _ = issue_coordinator_token(SECRET, subject="c", communities=["x"], ttl=timedelta(hours=1),
                                         now=datetime.now(UTC) - timedelta(hours=2))
    assert read_coordinator_token(SECRET, expired, service="intake") is None
    assert read_coordinator_token("t" * 32, token, service="intake") is None
    now = datetime.now(UTC)
    admin = jwt.encode({"iss": "heartline", "sub": "x", "role": "admin", "jti": "j", "aud": ["heartline-intake"],
                        "iat": now, "exp": now + timedelta(hours=1)}, SECRET, algorithm="HS256")
    assert read_coordinator_token(SECRET, admin, service="intake") is None


def test_a_short_secret_cannot_sign() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        issue_coordinator_token("short-secret", subject="c", communities=[], ttl=timedelta(hours=1))

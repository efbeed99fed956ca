"""The auth domain's rules without a registry: roles, the rate limit's arithmetic, token and
user name shapes, where a sign-in may send the browser next, the loopback test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from safeship.auth import AuthError, Role, role_allows
from safeship.auth.names import check_user_name, is_user_name
from safeship.auth.passwords import check_strength
from safeship.auth.ratelimit import MAX_FAILURES, WINDOW, retry_after
from safeship.auth.tokens import csrf_token, digest, new_token, same_secret, token_prefix
from safeship.dashboard.auth_routes import local_path
from safeship.dashboard.security import is_loopback

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_each_role_may_do_what_the_ones_below_may() -> None:
    order = ["viewer", "deployer", "approver", "admin"]
    for i, role in enumerate(order):
        assert [role_allows(role, needed) for needed in order] == [j <= i for j in range(4)]
    assert not role_allows("root", "viewer") and not role_allows("admin", "root")
    with pytest.raises(AuthError, match="unknown role 'root'"):
        Role.parse("root")


def test_the_rate_limit_counts_the_window_and_frees_with_the_oldest_failure() -> None:
    failures = [T0 + timedelta(seconds=s) for s in range(MAX_FAILURES)]
    assert retry_after(failures[:-1], T0 + timedelta(seconds=10)) is None
    assert retry_after(failures, T0 + timedelta(seconds=10)) == WINDOW.total_seconds() - 10
    # Old failures drop out: the window slides.
    assert retry_after(failures, T0 + WINDOW + timedelta(seconds=1)) is None
    # Seven failures: it frees when the third oldest leaves, not the first.
    seven = [T0 + timedelta(seconds=10 * s) for s in range(7)]
    assert retry_after(seven, T0 + timedelta(seconds=60)) == WINDOW.total_seconds() - 40


def test_tokens_have_one_shape_and_are_compared_by_digest() -> None:
    token = new_token()
    assert token.startswith("ssk_") and len(token) == 47 and token != new_token()
    assert token_prefix(token) == token[:16]
    for bad in ("", "ssk_short", "Bearer " + token, token + "x", "xyz_" + token[4:]):
        assert token_prefix(bad) is None
    assert len(digest(token)) == 64 and digest(token) != digest(new_token())
    assert same_secret("abc", "abc") and not same_secret("abc", "abd")
    assert csrf_token("session-a") != csrf_token("session-b")


def test_user_names_and_passwords() -> None:
    for name in ("alice", "a", "pat@example.com", "ci-bot_2", "x" * 64):
        assert check_user_name(name) == name
    for name in ("", "-x", ".x", "a b", "a/b", "é", "x" * 65, "a\nb"):
        assert not is_user_name(name)
    for password, message in (("", "empty"), ("x" * 11, "too short"), (" " * 12, "only spaces"),
                              ("x" * 1025, "too long")):  # fmt: skip
        with pytest.raises(AuthError, match=message):
            check_strength(password)
    check_strength("x" * 12)


def test_next_after_sign_in_stays_on_this_site() -> None:
    for target in ("/", "/history?environment=prod", "/deployments/abc#timeline"):
        assert local_path(target) == target
    elsewhere = (None, "", "https://evil.example/", "//evil.example", "/\\evil.example",
                 "javascript:alert(1)", "history", "/x\r\nSet-Cookie: a=b")  # fmt: skip
    for outside in (*elsewhere, "/" + "a" * 3000):
        assert local_path(outside) == "/"


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.2", "example.com", "localhost.example.com"):
        assert not is_loopback(host), host

"""The auth tables on real SQLite and PostgreSQL (``registry_url`` runs each test on both):
users, tokens, sessions, one-time nonces under concurrent use, the audit trail, the sign-in
failures the rate limit counts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from safeship.registry import Registry

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_users_tokens_and_sessions_round_trip_and_go_with_the_user(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        assert registry.add_user("alice", "deployer", "$argon2id$h1", T0)
        assert not registry.add_user("alice", "admin", "$argon2id$h2", T0)
        assert registry.has_password_user()
        token_id = registry.add_token("alice", "ci", "ssk_abcdefghijkl", "d" * 64, T0, None)
        registry.token_used(token_id, T0 + timedelta(seconds=5))
        token = registry.token_by_prefix("ssk_abcdefghijkl")
        assert token is not None and token.user_name == "alice"
        assert token.last_used_at == T0 + timedelta(seconds=5)
        assert registry.revoke_token(token_id, T0) and not registry.revoke_token(token_id, T0)
        registry.start_session("s" * 64, "alice", T0, T0 + timedelta(hours=12))
        session = registry.session("s" * 64)
        assert session is not None and (session.user_name, session.role) == ("alice", "deployer")
        assert session.expires_at == T0 + timedelta(hours=12)
        assert registry.set_password_hash("alice", "$argon2id$h3", T0, end_sessions=True)
        assert registry.session("s" * 64) is None
        registry.start_session("t" * 64, "alice", T0, T0 + timedelta(hours=12))
        assert registry.remove_user("alice") and not registry.remove_user("alice")
        assert registry.session("t" * 64) is None and registry.tokens("alice") == []


def test_a_nonce_is_used_once_whoever_races_for_it(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        registry.add_nonce("n" * 64, "alice", "rollback", "prod", T0)
        now, issued_after = T0 + timedelta(seconds=1), T0 - timedelta(minutes=15)
        results = []

        def use() -> None:
            results.append(registry.use_nonce("n" * 64, "alice", "rollback", "prod", now,
                                              issued_after))  # fmt: skip

        threads = [threading.Thread(target=use) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(r.first for r in results) == [False] * 5 + [True]
        registry.set_nonce_outcome("n" * 64, "rolled back to v1")
        again = registry.use_nonce("n" * 64, "alice", "rollback", "prod", now, issued_after)
        assert (again.first, again.known, again.outcome) == (False, True, "rolled back to v1")
        # Another user's, another action's or an old nonce is not known to the caller.
        registry.add_nonce("m" * 64, "alice", "rollback", "prod", T0 - timedelta(hours=1))
        for args in (("bob", "rollback", "prod"), ("alice", "abort", "prod")):
            assert not registry.use_nonce("n" * 64, *args, now, issued_after).known
        assert not registry.use_nonce("m" * 64, "alice", "rollback", "prod", now,
                                      issued_after).known  # fmt: skip
        assert registry.forget_nonces(T0) == 1


def test_audit_entries_and_signin_failures(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        for second in range(3):
            registry.add_audit(T0 + timedelta(seconds=second), "alice", "signin", "alice",
                               "refused", "10.0.0.1", f"try {second}\n\x00more")  # fmt: skip
            registry.add_signin_failure("alice", "10.0.0.1", T0 + timedelta(seconds=second),
                                        T0 - timedelta(minutes=10))  # fmt: skip
        registry.add_audit(T0, "x" * 300, "a" * 100, None, "ok", None, "d" * 5000)
        newest = registry.audit_entries(2)
        assert [e.detail for e in newest] == ["try 2\nmore", "try 1\nmore"]
        long = next(e for e in registry.audit_entries(10) if e.outcome == "ok")
        assert (len(long.actor), len(long.action), len(long.detail)) == (255, 64, 1000)
        by_user, by_client = registry.signin_failures("alice", "10.0.0.9", T0)
        assert len(by_user) == 2 and by_client == []
        registry.add_signin_failure("bob", "10.0.0.2", T0 + timedelta(hours=1), T0 + timedelta(1))
        assert registry.signin_failures("alice", "10.0.0.1", T0 - timedelta(1)) == ([], [])
        registry.add_signin_failure("alice", "10.0.0.1", T0, T0 - timedelta(minutes=10))
        registry.clear_signin_failures("alice", T0)
        assert registry.signin_failures("alice", "10.0.0.1", T0 - timedelta(1)) == ([], [])

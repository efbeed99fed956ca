"""Who may do what, in the registry: users, API tokens, web sessions, action nonces, the audit
trail and the sign-in failures the rate limit counts (docs/security.md).

Only digests are stored for what grants access (argon2's hash of a password, SHA-256 of a token,
of a session id, of a nonce): the registry can be read by whoever reads the deployments, and
what it holds must not sign anyone in. ``Registry`` inherits ``AuthRecords``; the caller passes
the time (``now``) so one clock, the core's, decides every expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Final

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.sql import Row, Tx, db_time, to_time

if TYPE_CHECKING:
    from safeship.registry.auth_rows import (
        ApiTokenRecord,
        AuditRecord,
        NonceUse,
        UserRecord,
        WebSessionRecord,
    )

USER_NAME_LEN: Final = 64
ROLE_LEN: Final = 16
LABEL_LEN: Final = 100
PREFIX_LEN: Final = 16
DIGEST_LEN: Final = 64
ACTOR_LEN: Final = 255
ACTION_LEN: Final = 64
TARGET_LEN: Final = 255
OUTCOME_LEN: Final = 16
CLIENT_LEN: Final = 64
DETAIL_LEN: Final = 1000


_USER_COLUMNS: Final = "name, role, password_hash, created_at, password_changed_at"
_TOKEN_COLUMNS: Final = (
    "id, user_name, label, prefix, digest, created_at, expires_at, last_used_at, revoked_at"
)
_AUDIT_COLUMNS: Final = "id, at, actor, action, target, outcome, client, detail"


def _user(row: Row) -> UserRecord:
    from safeship.registry.auth_rows import user_record

    return user_record(row)


def _token(row: Row) -> ApiTokenRecord:
    from safeship.registry.auth_rows import token_record

    return token_record(row)


def _audit(row: Row) -> AuditRecord:
    from safeship.registry.auth_rows import audit_record

    return audit_record(row)


def _nonce_use(first: bool, known: bool, outcome: str | None = None) -> NonceUse:
    from safeship.registry.auth_rows import NonceUse

    return NonceUse(first=first, known=known, outcome=outcome)


def _session_record(row: Row) -> WebSessionRecord:
    from safeship.registry.auth_rows import WebSessionRecord

    return WebSessionRecord(
        row[0], row[1], row[2], to_time(row[3]), to_time(row[4]), to_time(row[5])
    )


class AuthRecords:
    """Users, tokens, sessions, nonces, audit and sign-in failures (the facade's methods)."""

    _reading: Callable[[str], AbstractContextManager[Tx]]
    _writing: Callable[[str], AbstractContextManager[Tx]]

    # -- users -------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str, now: datetime) -> bool:
        """Record a new user; False when one of that name exists (nothing is changed)."""
        check_text("user name", name, USER_NAME_LEN)
        check_text("role", role, ROLE_LEN)
        check_text("password hash", password_hash, None)
        with self._writing("add user") as tx:
            if tx.rows("SELECT 1 FROM users WHERE name = :name", {"name": name}):
                return False
            tx.run(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (:name, :role, :hash, :now, :now)",
                {"name": name, "role": role, "hash": password_hash, "now": db_time(tx, now)},
            )
            return True

    def user(self, name: str) -> UserRecord | None:
        with self._reading("read user") as tx:
            rows = tx.rows(f"SELECT {_USER_COLUMNS} FROM users WHERE name = :name", {"name": name})
        return _user(rows[0]) if rows else None

    def users(self) -> list[UserRecord]:
        with self._reading("read users") as tx:
            return [_user(r) for r in tx.rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")]

    def remove_user(self, name: str) -> bool:
        """Remove the user with their tokens and sessions; False when there is none."""
        with self._writing("remove user") as tx:
            params = {"name": name}
            # Explicit, not left to ON DELETE CASCADE: SQLite enforces it only when asked to.
            tx.run("DELETE FROM web_sessions WHERE user_name = :name", params)
            tx.run("DELETE FROM api_tokens WHERE user_name = :name", params)
            return bool(tx.run("DELETE FROM users WHERE name = :name", params))

    def set_password_hash(
        self, name: str, password_hash: str, now: datetime, *, end_sessions: bool
    ) -> bool:
        """Store a new hash (``end_sessions``: a changed password signs every browser out; a
        rehash of the same password does not); False when there is no such user."""
        check_text("password hash", password_hash, None)
        with self._writing("set password") as tx:
            changed = tx.run(
                "UPDATE users SET password_hash = :hash, password_changed_at = :now "
                "WHERE name = :name",
                {"name": name, "hash": password_hash, "now": db_time(tx, now)},
            )
            if changed and end_sessions:
                tx.run("DELETE FROM web_sessions WHERE user_name = :name", {"name": name})
            return bool(changed)

    def has_password_user(self) -> bool:
        """Whether any user can sign in with a password (the binding rule asks)."""
        with self._reading("count users") as tx:
            return bool(tx.rows("SELECT 1 FROM users WHERE password_hash <> '' LIMIT 1"))

    # -- API tokens --------------------------------------------------------------------------

    def add_token(
        self,
        user_name: str,
        label: str | None,
        prefix: str,
        digest: str,
        now: datetime,
        expires_at: datetime | None,
    ) -> int:
        """Record a token's digest; its id."""
        check_text("label", label, LABEL_LEN, required=False)
        check_text("prefix", prefix, PREFIX_LEN)
        check_text("digest", digest, DIGEST_LEN)
        with self._writing("add token") as tx:
            rows = tx.rows(
                f"INSERT INTO api_tokens ({_TOKEN_COLUMNS.replace('id, ', '', 1)}) VALUES "
                "(:user, :label, :prefix, :digest, :now, :expires, NULL, NULL) RETURNING id",
                {
                    "user": user_name,
                    "label": label,
                    "prefix": prefix,
                    "digest": digest,
                    "now": db_time(tx, now),
                    "expires": db_time(tx, expires_at),
                },
            )
            return int(rows[0][0])

    def token_by_prefix(self, prefix: str) -> ApiTokenRecord | None:
        with self._reading("read token") as tx:
            rows = tx.rows(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE prefix = :prefix",
                {"prefix": prefix},
            )
        return _token(rows[0]) if rows else None

    def tokens(self, user_name: str) -> list[ApiTokenRecord]:
        with self._reading("read tokens") as tx:
            rows = tx.rows(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE user_name = :user ORDER BY id",
                {"user": user_name},
            )
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: int, now: datetime) -> bool:
        """False when there is no such token or it was revoked already."""
        with self._writing("revoke token") as tx:
            return bool(
                tx.run(
                    "UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
                    {"id": token_id, "now": db_time(tx, now)},
                )
            )

    def token_used(self, token_id: int, now: datetime) -> None:
        with self._writing("mark token used") as tx:
            tx.run(
                "UPDATE api_tokens SET last_used_at = :now WHERE id = :id",
                {"id": token_id, "now": db_time(tx, now)},
            )

    # -- web sessions ------------------------------------------------------------------------

    def start_session(
        self, digest: str, user_name: str, now: datetime, expires_at: datetime
    ) -> None:
        check_text("digest", digest, DIGEST_LEN)
        with self._writing("start session") as tx:
            tx.run(
                "INSERT INTO web_sessions (digest, user_name, created_at, last_seen_at, "
                "expires_at) VALUES (:digest, :user, :now, :now, :expires)",
                {
                    "digest": digest,
                    "user": user_name,
                    "now": db_time(tx, now),
                    "expires": db_time(tx, expires_at),
                },
            )

    def session(self, digest: str) -> WebSessionRecord | None:
        """The session and its user's current role (a role changed applies at once)."""
        with self._reading("read session") as tx:
            rows = tx.rows(
                "SELECT s.digest, s.user_name, u.role, s.created_at, s.last_seen_at, "
                "s.expires_at FROM web_sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.digest = :digest",
                {"digest": digest},
            )
        if not rows:
            return None
        row = rows[0]
        return _session_record(row)

    def session_seen(self, digest: str, now: datetime) -> None:
        with self._writing("touch session") as tx:
            tx.run(
                "UPDATE web_sessions SET last_seen_at = :now WHERE digest = :digest",
                {"digest": digest, "now": db_time(tx, now)},
            )

    def end_session(self, digest: str) -> bool:
        with self._writing("end session") as tx:
            return bool(
                tx.run("DELETE FROM web_sessions WHERE digest = :digest", {"digest": digest})
            )

    def end_stale_sessions(self, now: datetime, idle_before: datetime) -> int:
        """Delete the sessions past their absolute end or idle since ``idle_before``."""
        with self._writing("end stale sessions") as tx:
            return tx.run(
                "DELETE FROM web_sessions WHERE expires_at <= :now OR last_seen_at < :idle",
                {"now": db_time(tx, now), "idle": db_time(tx, idle_before)},
            )

    # -- action nonces -----------------------------------------------------------------------

    def add_nonce(self, digest: str, actor: str, action: str, target: str, now: datetime) -> None:
        check_text("digest", digest, DIGEST_LEN)
        check_text("actor", actor, ACTOR_LEN)
        check_text("action", action, ACTION_LEN)
        check_text("target", target, TARGET_LEN)
        with self._writing("add nonce") as tx:
            tx.run(
                "INSERT INTO action_nonces (digest, actor, action, target, created_at) "
                "VALUES (:digest, :actor, :action, :target, :now)",
                {
                    "digest": digest,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "now": db_time(tx, now),
                },
            )

    def claim_nonce(self, digest: str, actor: str, action: str, target: str, now: datetime) -> None:
        """Record the nonce unless it is recorded already (an API client's idempotency key:
        the first request with it records it, a retry finds it)."""
        check_text("digest", digest, DIGEST_LEN)
        check_text("actor", actor, ACTOR_LEN)
        check_text("action", action, ACTION_LEN)
        check_text("target", target, TARGET_LEN)
        with self._writing("claim nonce") as tx:
            tx.run(
                "INSERT INTO action_nonces (digest, actor, action, target, created_at) "
                "VALUES (:digest, :actor, :action, :target, :now) ON CONFLICT (digest) DO NOTHING",
                {
                    "digest": digest,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "now": db_time(tx, now),
                },
            )

    def use_nonce(
        self,
        digest: str,
        actor: str,
        action: str,
        target: str,
        now: datetime,
        issued_after: datetime,
    ) -> NonceUse:
        """Mark the nonce used, atomically: exactly one of any number of concurrent uses is
        ``first``; the others read what the first one recorded (``outcome``)."""
        with self._writing("use nonce") as tx:
            params = {"digest": digest, "actor": actor, "action": action, "target": target}
            first = tx.run(
                "UPDATE action_nonces SET used_at = :now WHERE digest = :digest "
                "AND actor = :actor AND action = :action AND target = :target "
                "AND used_at IS NULL AND created_at > :after",
                {**params, "now": db_time(tx, now), "after": db_time(tx, issued_after)},
            )
            if first:
                return _nonce_use(first=True, known=True)
            rows = tx.rows(
                "SELECT outcome, used_at FROM action_nonces WHERE digest = :digest "
                "AND actor = :actor AND action = :action AND target = :target",
                params,
            )
        if not rows or rows[0][1] is None:  # unknown, someone else's, or expired unused
            return _nonce_use(first=False, known=False)
        return _nonce_use(first=False, known=True, outcome=rows[0][0] or "in progress")

    def set_nonce_outcome(self, digest: str, outcome: str) -> None:
        with self._writing("record nonce outcome") as tx:
            tx.run(
                "UPDATE action_nonces SET outcome = :outcome WHERE digest = :digest",
                {"digest": digest, "outcome": outcome[:DETAIL_LEN]},
            )

    def forget_nonces(self, before: datetime) -> int:
        with self._writing("forget nonces") as tx:
            return tx.run(
                "DELETE FROM action_nonces WHERE created_at < :before",
                {"before": db_time(tx, before)},
            )

    # -- the audit trail ---------------------------------------------------------------------

    def add_audit(
        self,
        at: datetime,
        actor: str,
        action: str,
        target: str | None,
        outcome: str,
        client: str | None,
        detail: str,
    ) -> None:
        """Append one entry; over-long text is cut (an audit entry is never refused)."""
        if at.tzinfo is None:
            raise RegistryError("an audit entry's time has no time zone")
        with self._writing("add audit entry") as tx:
            tx.run(
                "INSERT INTO audit_log (at, actor, action, target, outcome, client, detail) "
                "VALUES (:at, :actor, :action, :target, :outcome, :client, :detail)",
                {
                    "at": db_time(tx, at),
                    "actor": _cut(actor, ACTOR_LEN) or "-",
                    "action": _cut(action, ACTION_LEN) or "-",
                    "target": _cut(target, TARGET_LEN),
                    "outcome": _cut(outcome, OUTCOME_LEN) or "-",
                    "client": _cut(client, CLIENT_LEN),
                    "detail": _cut(detail, DETAIL_LEN) or "",
                },
            )

    def audit_entries(self, limit: int = 50) -> list[AuditRecord]:
        """The newest ``limit`` entries, newest first."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        with self._reading("read audit") as tx:
            rows = tx.rows(
                f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY at DESC, id DESC LIMIT :n",
                {"n": limit},
            )
        return [_audit(r) for r in rows]

    # -- sign-in failures (the rate limit) ---------------------------------------------------

    def add_signin_failure(
        self, user_name: str, client: str, now: datetime, forget_before: datetime
    ) -> None:
        """Record a failure, and forget those older than ``forget_before`` (outside any
        window: the table stays small whatever a guesser sends)."""
        with self._writing("record sign-in failure") as tx:
            tx.run("DELETE FROM signin_failures WHERE at < :before",
                   {"before": db_time(tx, forget_before)})  # fmt: skip
            tx.run(
                "INSERT INTO signin_failures (at, user_name, client) VALUES (:at, :user, :client)",
                {
                    "at": db_time(tx, now),
                    "user": _cut(user_name, ACTOR_LEN) or "-",
                    "client": _cut(client, CLIENT_LEN) or "-",
                },
            )

    def signin_failures(
        self, user_name: str, client: str, since: datetime
    ) -> tuple[list[datetime], list[datetime]]:
        """The failures since ``since``: of this user name, and from this client, oldest first."""
        with self._reading("read sign-in failures") as tx:
            after = db_time(tx, since)
            by_user = tx.rows(
                "SELECT at FROM signin_failures WHERE user_name = :user AND at > :after "
                "ORDER BY at",
                {"user": _cut(user_name, ACTOR_LEN) or "-", "after": after},
            )
            by_client = tx.rows(
                "SELECT at FROM signin_failures WHERE client = :client AND at > :after ORDER BY at",
                {"client": _cut(client, CLIENT_LEN) or "-", "after": after},
            )
        return [to_time(r[0]) for r in by_user], [to_time(r[0]) for r in by_client]

    def clear_signin_failures(self, user_name: str, before: datetime) -> None:
        """Forget the user's failures (after a success) and everyone's older than ``before``."""
        with self._writing("clear sign-in failures") as tx:
            tx.run(
                "DELETE FROM signin_failures WHERE user_name = :user OR at < :before",
                {"user": _cut(user_name, ACTOR_LEN) or "-", "before": db_time(tx, before)},
            )


def _cut(text: str | None, limit: int) -> str | None:
    """``text`` without NUL characters and at most ``limit`` characters long."""
    if text is None:
        return None
    return text.replace("\x00", "")[:limit]

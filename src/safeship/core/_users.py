"""Who may do what: users, API tokens, web sessions, the confirm forms' nonces and the audit
trail (docs/security.md). `safeship user`/`safeship audit` and the dashboard call these.

Every secret is made here and shown once (a token on creation, a session id in its cookie);
the registry keeps their digests. The clock is a parameter (``now``) so tests move time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from safeship.auth import AuthError, Role, SigninThrottled, role_allows
from safeship.auth.names import check_user_name, is_user_name

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.config.serve import ServeAuthSettings
    from safeship.registry import Registry
    from safeship.registry.auth_rows import ApiTokenRecord, AuditRecord, UserRecord

Via = Literal["session", "token", "proxy"]
# A confirm form's nonce is good for this long after the page was shown.
NONCE_LIFETIME: Final = timedelta(minutes=15)
# A session's last use is written at most this often (not on every page view).
SEEN_RESOLUTION: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: datetime
    password_changed_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "createdAt": self.created_at.isoformat(),
            "passwordChangedAt": self.password_changed_at.isoformat(),
        }


@dataclass(frozen=True)
class ApiToken:
    """A token's record (never the token: it is shown once, when created)."""

    id: int
    user: str
    label: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or _now()):
            return "expired"
        return "active"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and how that was established."""

    name: str
    role: str
    via: Via

    def may(self, role: str) -> bool:
        return role_allows(self.role, role)

    @property
    def actor(self) -> str:
        """How the registry names them in what they did (a deployment's triggered_by)."""
        return f"dashboard:{self.name}"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    client: str | None
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "client": self.client,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class NonceResult:
    """Using a confirm form's nonce: ``act`` True for the one use that performs the action;
    else ``outcome`` says what the first use did (None: the nonce is unknown or expired)."""

    act: bool
    outcome: str | None = None


# -- the registry, one per URL per process (a Registry is thread-safe) -----------------------

_REGISTRIES: dict[str, Registry] = {}
_REGISTRIES_LOCK = threading.Lock()


def _registry(loaded: LoadedConfig) -> Registry:
    from safeship.registry import Registry

    url = loaded.registry_url()
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(url)
        if registry is None:
            registry = _REGISTRIES[url] = Registry(url)
        return registry


def _now() -> datetime:
    return datetime.now(UTC)


def _user(record: UserRecord) -> User:
    return User(record.name, record.role, record.created_at, record.password_changed_at)


def _token(record: ApiTokenRecord) -> ApiToken:
    return ApiToken(
        record.id,
        record.user_name,
        record.label,
        record.prefix,
        record.created_at,
        record.expires_at,
        record.last_used_at,
        record.revoked_at,
    )


def _audit(record: AuditRecord) -> AuditEntry:
    return AuditEntry(
        record.id,
        record.at,
        record.actor,
        record.action,
        record.target,
        record.outcome,
        record.client,
        record.detail,
    )


# -- users -----------------------------------------------------------------------------------


def user_add(
    loaded: LoadedConfig,
    name: str,
    role: str,
    password: str,
    *,
    actor: str = "cli",
    now: datetime | None = None,
) -> User:
    """Create a user (AuthError: a bad name or role, a weak password, the name taken)."""
    from safeship.auth.passwords import check_strength, hash_password

    check_user_name(name)
    Role.parse(role)
    check_strength(password)
    at = now or _now()
    if not _registry(loaded).add_user(name, role, hash_password(password), at):
        raise AuthError(f"user {name} exists already")
    audit_record(loaded, actor, "user.add", name, "ok", None, f"role {role}", now=at)
    return User(name, role, at, at)


def user_list(loaded: LoadedConfig) -> list[User]:
    return [_user(r) for r in _registry(loaded).users()]


def user_remove(loaded: LoadedConfig, name: str, *, actor: str = "cli") -> None:
    """Remove the user, their tokens and their sessions (AuthError: no such user)."""
    if not _registry(loaded).remove_user(name):
        raise AuthError(f"no user {name[:80]!r}")
    audit_record(loaded, actor, "user.remove", name, "ok", None, "tokens and sessions ended")


def user_set_password(
    loaded: LoadedConfig,
    name: str,
    password: str,
    *,
    actor: str = "cli",
    now: datetime | None = None,
) -> None:
    """Change the user's password; every session of theirs ends (their tokens stay)."""
    from safeship.auth.passwords import check_strength, hash_password

    check_strength(password)
    at = now or _now()
    if not _registry(loaded).set_password_hash(
        name, hash_password(password), at, end_sessions=True
    ):
        raise AuthError(f"no user {name[:80]!r}")
    audit_record(loaded, actor, "user.passwd", name, "ok", None, "sessions ended", now=at)


def auth_configured(loaded: LoadedConfig) -> bool:
    """Whether anyone can be authenticated: a trusted proxy header, or a user with a password."""
    if loaded.config.serve.auth.trusted_header:
        return True
    return _registry(loaded).has_password_user()


# -- API tokens ------------------------------------------------------------------------------


def token_create(
    loaded: LoadedConfig,
    name: str,
    *,
    label: str | None = None,
    expires_in: timedelta | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the user: its record and the token itself (shown once, never stored)."""
    from safeship.auth.tokens import digest, new_token, token_prefix

    registry = _registry(loaded)
    if registry.user(name) is None:
        raise AuthError(f"no user {name[:80]!r}")
    if label is not None and not (0 < len(label) <= 100 and label.isprintable()):
        raise AuthError("a token's label is 1-100 printable characters")
    at = now or _now()
    expires_at = at + expires_in if expires_in is not None else None
    token = new_token()
    prefix = token_prefix(token)
    assert prefix is not None  # made just above in the shape token_prefix reads
    token_id = registry.add_token(name, label, prefix, digest(token), at, expires_at)
    audit_record(loaded, actor, "token.create", name, "ok", None, f"token {token_id}", now=at)
    return ApiToken(token_id, name, label, prefix, at, expires_at, None, None), token


def token_list(loaded: LoadedConfig, name: str) -> list[ApiToken]:
    registry = _registry(loaded)
    if registry.user(name) is None:
        raise AuthError(f"no user {name[:80]!r}")
    return [_token(r) for r in registry.tokens(name)]


def token_revoke(
    loaded: LoadedConfig, token_id: int, *, actor: str = "cli", now: datetime | None = None
) -> None:
    at = now or _now()
    if not _registry(loaded).revoke_token(token_id, at):
        raise AuthError(f"no active token {token_id}")
    audit_record(loaded, actor, "token.revoke", str(token_id), "ok", None, "", now=at)


def authenticate_token(
    loaded: LoadedConfig, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The token's user, or None (unknown, revoked, expired; the caller audits the refusal)."""
    from safeship.auth.tokens import digest, same_secret, token_prefix

    prefix = token_prefix(token)
    if prefix is None:
        return None
    registry = _registry(loaded)
    record = registry.token_by_prefix(prefix)
    if record is None or not same_secret(record.digest, digest(token)):
        return None
    at = now or _now()
    if record.revoked_at is not None or (record.expires_at is not None and record.expires_at <= at):
        return None
    user = registry.user(record.user_name)
    if user is None:
        return None
    if record.last_used_at is None or at - record.last_used_at >= SEEN_RESOLUTION:
        registry.token_used(record.id, at)
    return Principal(user.name, user.role, "token")


# -- signing in ------------------------------------------------------------------------------


def authenticate_password(
    loaded: LoadedConfig,
    name: str,
    password: str,
    client: str,
    *,
    now: datetime | None = None,
) -> Principal:
    """Check a sign-in; every attempt is audited. SigninThrottled after too many failures for
    the name or from the client; AuthError (one message whatever was wrong) on a failure."""
    from safeship.auth import passwords
    from safeship.auth.ratelimit import WINDOW, retry_after

    at = now or _now()
    registry = _registry(loaded)
    shown = name if is_user_name(name) else "(bad name)"
    by_name, by_client = registry.signin_failures(shown, client, at - WINDOW)
    wait = max(retry_after(by_name, at) or 0, retry_after(by_client, at) or 0)
    if wait:
        audit_record(loaded, shown, "signin", shown, "throttled", client,
                     f"rate limit: retry in {wait} s", now=at)  # fmt: skip
        raise SigninThrottled(wait)
    record = registry.user(name) if shown == name else None
    if record is None:
        passwords.spend_verify_time(password)
        ok, fresh = False, None
    else:
        ok, fresh = passwords.verify_password(record.password_hash, password)
    if not ok or record is None:
        registry.add_signin_failure(shown, client, at, at - 2 * WINDOW)
        why = "unknown user" if record is None else "wrong password"
        audit_record(loaded, shown, "signin", shown, "refused", client, why, now=at)
        raise AuthError("wrong user name or password")
    if fresh is not None:  # the hashing parameters changed since: store today's
        registry.set_password_hash(record.name, fresh, record.password_changed_at,
                                   end_sessions=False)  # fmt: skip
    registry.clear_signin_failures(record.name, at - WINDOW)
    audit_record(loaded, record.name, "signin", record.name, "ok", client, "password", now=at)
    return Principal(record.name, record.role, "session")


def proxy_principal(loaded: LoadedConfig, name: str) -> Principal | None:
    """The user an authenticating proxy vouches for: their own role when they are a safeship
    user, else ``[serve.auth].proxy_role``; None for a name that is not a user name."""
    if not is_user_name(name):
        return None
    record = _registry(loaded).user(name)
    role = record.role if record is not None else loaded.config.serve.auth.proxy_role
    return Principal(name, role, "proxy")


# -- sessions --------------------------------------------------------------------------------


def session_start(
    loaded: LoadedConfig, principal: Principal, *, now: datetime | None = None
) -> str:
    """A new session for the signed-in user; its id (the cookie's value: only its digest is
    stored)."""
    from safeship.auth.tokens import digest, new_secret

    settings = loaded.config.serve.auth
    at = now or _now()
    session_id = new_secret()
    expires = at + timedelta(seconds=settings.session_lifetime)
    registry = _registry(loaded)
    registry.start_session(digest(session_id), principal.name, at, expires)
    # Each sign-in sweeps the sessions that have ended (so the table does not grow forever).
    registry.end_stale_sessions(at, at - timedelta(seconds=settings.session_idle))
    return session_id


def session_lookup(
    loaded: LoadedConfig, session_id: str, *, now: datetime | None = None
) -> Principal | None:
    """The session's user with their current role, or None when it has ended (signed out,
    past its absolute lifetime, idle too long, the user removed or their password changed)."""
    from safeship.auth.tokens import digest

    if not session_id or len(session_id) > 100:
        return None
    settings: ServeAuthSettings = loaded.config.serve.auth
    at = now or _now()
    registry = _registry(loaded)
    key = digest(session_id)
    record = registry.session(key)
    if record is None:
        return None
    idle = timedelta(seconds=settings.session_idle)
    if record.expires_at <= at or record.last_seen_at + idle <= at:
        registry.end_session(key)
        return None
    if at - record.last_seen_at >= SEEN_RESOLUTION:
        registry.session_seen(key, at)
    return Principal(record.user_name, record.role, "session")


def session_end(loaded: LoadedConfig, session_id: str) -> bool:
    from safeship.auth.tokens import digest

    return _registry(loaded).end_session(digest(session_id))


def csrf_token(session_id: str) -> str:
    """The session's CSRF token (derived from its id: nothing more is stored)."""
    from safeship.auth.tokens import csrf_token as derive

    return derive(session_id)


# -- the confirm forms' one-time nonces ------------------------------------------------------


def nonce_issue(
    loaded: LoadedConfig, actor: str, action: str, target: str, *, now: datetime | None = None
) -> str:
    """A nonce for one confirm form (``actor`` may use it once, for ``action`` on ``target``)."""
    from safeship.auth.tokens import digest, new_secret

    at = now or _now()
    nonce = new_secret()
    registry = _registry(loaded)
    registry.add_nonce(digest(nonce), actor, action, target, at)
    registry.forget_nonces(at - 4 * NONCE_LIFETIME)
    return nonce


def nonce_use(
    loaded: LoadedConfig,
    nonce: str,
    actor: str,
    action: str,
    target: str,
    *,
    now: datetime | None = None,
) -> NonceResult:
    """Use the nonce: ``act`` for exactly one use, however many are sent (a form submitted
    twice, a retried request); the others get what the first one did."""
    from safeship.auth.tokens import digest

    if not nonce or len(nonce) > 100:
        return NonceResult(act=False)
    at = now or _now()
    use = _registry(loaded).use_nonce(digest(nonce), actor, action, target, at, at - NONCE_LIFETIME)
    return NonceResult(act=use.first, outcome=use.outcome if use.known else None)


def idempotent_use(
    loaded: LoadedConfig,
    key: str,
    actor: str,
    action: str,
    target: str,
    *,
    now: datetime | None = None,
) -> tuple[NonceResult, str]:
    """An API client's ``Idempotency-Key``: the first request with it acts, a retry (within
    NONCE_LIFETIME) gets what the first did; a key used for another action or environment is
    not known (``outcome`` None). Also the nonce to record the outcome under."""
    from safeship.auth.tokens import digest

    if not key or len(key) > 100 or not key.isprintable():
        raise AuthError("Idempotency-Key must be 1-100 printable characters")
    nonce = f"idempotency:{actor}:{key}"
    at = now or _now()
    registry = _registry(loaded)
    registry.claim_nonce(digest(nonce), actor, action, target, at)
    use = registry.use_nonce(digest(nonce), actor, action, target, at, at - NONCE_LIFETIME)
    return NonceResult(act=use.first, outcome=use.outcome if use.known else None), nonce


def nonce_outcome(loaded: LoadedConfig, nonce: str, outcome: str) -> None:
    """Record what the nonce's action did (what a second submission is told)."""
    from safeship.auth.tokens import digest

    _registry(loaded).set_nonce_outcome(digest(nonce), outcome)


# -- the audit trail -------------------------------------------------------------------------


def audit_record(
    loaded: LoadedConfig,
    actor: str,
    action: str,
    target: str | None,
    outcome: str,
    client: str | None,
    detail: str,
    *,
    now: datetime | None = None,
) -> None:
    """Append to the audit trail: who, what, on what, how it ended, from where, one line of
    detail. The caller never passes a secret; the detail is cut to one line whatever it is."""
    line = " ".join(detail.split())
    _registry(loaded).add_audit(now or _now(), actor, action, target, outcome, client, line)


def audit_log(loaded: LoadedConfig, limit: int = 50) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first."""
    return [_audit(r) for r in _registry(loaded).audit_entries(limit)]

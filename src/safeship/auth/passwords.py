"""Passwords: argon2id (argon2-cffi's ``PasswordHasher`` with its defaults, RFC 9106's low-memory
profile), a minimum length, and a rehash when the parameters change."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Final

from safeship.auth.errors import AuthError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH: Final = 12
# Hashing a megabyte-long "password" costs argon2 nothing much, but nobody types one: a bound
# keeps a sign-in form from being a way to make the server work.
MAX_LENGTH: Final = 1024


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def check_strength(password: str) -> None:
    """Refuse an empty, short, over-long or blank password (AuthError, one line)."""
    if not password:
        raise AuthError("the password is empty")
    if len(password) < MIN_LENGTH:
        raise AuthError(f"the password is too short: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise AuthError(f"the password is too long: at most {MAX_LENGTH} characters")
    if not password.strip():
        raise AuthError("the password is only spaces")


def hash_password(password: str) -> str:
    """argon2's encoded hash (its parameters and salt inside)."""
    return _hasher().hash(password)


def verify_password(encoded: str, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches; and a fresh hash when the stored one was made with other
    parameters than today's (the caller stores it), else None."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if len(password) > MAX_LENGTH:
        return False, None
    hasher = _hasher()
    try:
        hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(encoded) else None


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password of anyone's")


def spend_verify_time(password: str) -> None:
    """Verify against a throwaway hash: an unknown user name takes as long to refuse as a wrong
    password does, so timing does not tell which names exist."""
    verify_password(_dummy_hash(), password[:MAX_LENGTH])

"""The random secrets that grant access, and how they are kept: API tokens, session ids, the
confirm forms' nonces, CSRF tokens. Each is 32 random bytes; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

TOKEN_MARK: Final = "ssk_"
# The stored prefix: the mark and 12 characters of the token (72 random bits), to find its row.
PREFIX_LEN: Final = len(TOKEN_MARK) + 12


def new_secret() -> str:
    """32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256, hex: a random 32-byte secret needs no salt nor slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_MARK + new_secret()


def token_prefix(token: str) -> str | None:
    """The lookup prefix of a token, or None when the text is not shaped like one."""
    if not token.startswith(TOKEN_MARK) or len(token) != len(TOKEN_MARK) + 43:
        return None
    return token[:PREFIX_LEN]


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison (the time does not tell how many characters matched)."""
    return hmac.compare_digest(a.encode(), b.encode())


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: derived from its id, so nothing more is stored, and useless
    without it (the cookie that carries the id is HttpOnly)."""
    return hmac.new(session_id.encode(), b"safeship csrf", hashlib.sha256).hexdigest()

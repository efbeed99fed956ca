"""The auth domain's errors: each message is one line, and never holds a secret."""

from __future__ import annotations


class AuthError(Exception):
    """Bad input or an unknown name (an unknown user, an existing one, a bad role, a weak
    password, a wrong password). The message is one line."""


class SigninThrottled(AuthError):
    """Too many failed sign-ins for a user name or from a client address, recently."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after} s")
        self.retry_after = retry_after

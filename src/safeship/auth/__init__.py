"""Who may do what: roles, password hashing, API tokens, session ids, the sign-in rate limit.

The domain rules only (docs/security.md); the core (``safeship.core._users``) keeps the records
in the registry and the dashboard asks it. Importing this package is light: argon2 is imported
by the functions that hash.
"""

from __future__ import annotations

from safeship.auth.errors import AuthError, SigninThrottled
from safeship.auth.roles import ROLES, Role, role_allows

__all__ = ["ROLES", "AuthError", "Role", "SigninThrottled", "role_allows"]

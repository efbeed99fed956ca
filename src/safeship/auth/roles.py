"""The four roles, each allowed what the ones below it are:

- viewer: reads (pages, the JSON API);
- deployer: rolls back, promotes, aborts;
- approver: approves deployments waiting for approval (the gates);
- admin: manages users.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from safeship.auth.errors import AuthError


class Role(StrEnum):
    VIEWER = "viewer"
    DEPLOYER = "deployer"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ROLES.index(self.value)

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text)
        except ValueError:
            raise AuthError(f"unknown role {text!r}; expected one of {', '.join(ROLES)}") from None


# Lowest first: a role may do what every role before it may.
ROLES: Final = ("viewer", "deployer", "approver", "admin")


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (an unknown role may do nothing)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)

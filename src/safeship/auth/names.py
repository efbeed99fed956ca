"""What a user name may be: letters, digits and ``._@+-``, 1-64 characters (an e-mail address
from an SSO proxy fits)."""

from __future__ import annotations

import re
from typing import Final

from safeship.auth.errors import AuthError

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def is_user_name(text: str) -> bool:
    return NAME_PATTERN.fullmatch(text) is not None


def check_user_name(text: str) -> str:
    if not is_user_name(text):
        raise AuthError(
            f"bad user name {text[:80]!r}: 1-64 letters, digits and ._@+- (starting with a "
            "letter or digit)"
        )
    return text

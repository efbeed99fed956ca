"""Who may use the dashboard (the sign-in side replaces this with its own module).

Until sign-in exists, the dashboard is read-only and binds to loopback only.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.config import LoadedConfig


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_problem(host: str, loaded: LoadedConfig) -> str | None:
    """Why the dashboard may not listen on ``host`` (None: it may)."""
    if _is_loopback(host):
        return None
    return (
        f"refusing to serve on {host}: the dashboard has no sign-in configured; "
        "bind to 127.0.0.1 (the default) or put it behind an authenticating proxy"
    )

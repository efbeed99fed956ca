"""What the routers that run an external server (nginx, haproxy) keep in their private
directory: ``router.json`` naming the server's pid (and its start time, so a reused pid is
never taken for it), and a JSON state file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safeship import _processes


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def live_server(router_json: Path) -> dict[str, Any] | None:
    """``router_json``'s contents while its pid is the process that wrote it (same start
    time) and runs; None otherwise (a dead one is reaped if it was our child)."""
    info = read_json_object(router_json)
    try:
        pid = int(info["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if not _processes.is_running(pid, info.get("start_ticks")):
        _processes.reap(pid)
        return None
    return info

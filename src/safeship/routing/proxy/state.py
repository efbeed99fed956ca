"""The builtin router's state: backends and their validation, counters, and its files.

Everything here is private to the user running safeship (safeship._files): the state
directory is 0700, its files 0600, and the admin API's Unix socket lives in a 0700
subdirectory, whatever the umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from safeship.routing.base import LATENCY_BUCKETS_MS, Backend, sparse_latency_buckets

# The response header naming the release that answered (nginx stamps it too).
RELEASE_HEADER = "X-Safeship-Release"

# Visible ASCII only: the name goes into a response header and must not break it.
_NAME_RE = re.compile(r"[\x21-\x7e]{1,128}")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

ADMIN_DIR = "admin"
ADMIN_SOCKET = "admin.sock"
# sun_path holds 108 bytes with its NUL; a longer path is reached through a directory fd.
_MAX_SOCKET_PATH = 100


@dataclass
class Counters:
    """Counters of one backend; the JSON shape is what BackendStats.from_json reads.

    Everything is cumulative except ``in_flight``, the requests sent to the backend whose
    response has not been passed on whole yet (a drain waits for it to reach 0).
    """

    requests: int = 0
    responses_5xx: int = 0
    connect_errors: int = 0
    status_classes: dict[str, int] = field(default_factory=dict)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    latency_sum_ms: float = 0.0
    in_flight: int = 0

    def record_response(self, status: int, latency_ms: float) -> None:
        self.requests += 1
        key = f"{status // 100}xx"
        self.status_classes[key] = self.status_classes.get(key, 0) + 1
        if status >= 500:
            self.responses_5xx += 1
        # Bucket bounds are inclusive upper bounds; past the last one is the open bucket.
        self.latency_buckets[bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1
        self.latency_sum_ms += latency_ms

    def record_connect_error(self) -> None:
        self.requests += 1
        self.connect_errors += 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # Sparse: a few dozen filled buckets of 325, polled every second per release.
        data["latency_buckets"] = sparse_latency_buckets(self.latency_buckets)
        return data


def parse_backends(data: object) -> list[Backend]:
    """Validate ``{"backends": [...]}``; raises ValueError with a one-line reason."""
    if not isinstance(data, dict) or not isinstance(data.get("backends"), list):
        raise ValueError('expected an object {"backends": [...]}')
    backends: list[Backend] = []
    for i, item in enumerate(data["backends"]):
        if not isinstance(item, dict):
            raise ValueError(f"backends[{i}] must be an object with name, url and weight")
        name, url, weight = item.get("name"), item.get("url"), item.get("weight")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"backends[{i}].name must be 1-128 visible ASCII characters")
        # bool is an int subclass; true/false as a weight is a caller bug, not 1/0.
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise ValueError(f"backend {name}: weight must be an integer from 0 to 100")
        if not isinstance(url, str):
            raise ValueError(f"backend {name}: url must be a string")
        _check_url(name, url)
        backends.append(Backend(name=name, url=url, weight=weight))
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ValueError("backend names must be unique")
    total = sum(b.weight for b in backends)
    if backends and total != 100:
        raise ValueError(f"weights must sum to 100, not {total}")
    return backends


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"backend {name}: url must look like http://127.0.0.1:PORT or http://localhost:PORT"
        )


def backends_to_json(backends: Sequence[Backend]) -> dict[str, Any]:
    return {"backends": [asdict(b) for b in backends]}


def load_backends(state_dir: Path) -> list[Backend]:
    path = state_dir / "backends.json"
    if not path.exists():
        return []
    try:
        return parse_backends(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"invalid {path}: {exc}") from exc


def admin_socket_path(state_dir: Path) -> Path:
    """Where the router's admin API listens: a Unix socket in a 0700 directory of its own."""
    return state_dir / ADMIN_DIR / ADMIN_SOCKET


@contextlib.contextmanager
def reachable_socket_path(path: Path) -> Iterator[str]:
    """A path to bind or connect ``path`` by, short enough for a Unix socket address.

    A deep state directory can exceed sun_path's 108 bytes; then the socket is reached as
    ``/proc/self/fd/N/NAME`` through a descriptor of its directory, held open meanwhile.
    """
    text = str(path)
    if len(os.fsencode(text)) <= _MAX_SOCKET_PATH or not Path("/proc/self/fd").is_dir():
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)

"""The haproxy.cfg that HaproxyRouter writes: a server per (release, host), health checks,
redispatch, the Runtime API socket, the per-request log and the release header.

Server names: HAProxy allows ``[A-Za-z0-9_.:-]`` in a server name, and versions hold ``+``; a
server is named ``RELEASE:HOST`` (``RELEASE`` alone for a release without servers) with every
other character as ``_`` (``:`` too, so the separator stays unique), and a ``-N`` suffix when
two pairs would clean up to the same name. The router records name -> (release, host) in its
state file and reuses a name once given, so Runtime API commands and log lines always reach
the server they mean.

Weights: a release's weight (0-100) is spread evenly over its servers on HAProxy's scale
(0-256; :func:`spread_weights`), so the split between releases holds whatever their number of
hosts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from safeship.routing.base import Backend
from safeship.routing.proxy import RELEASE_HEADER

if TYPE_CHECKING:
    from safeship.routing.settings import HaproxyRouterSettings

# HAProxy's weight scale: a server's weight is 0-256.
MAX_SERVER_WEIGHT = 256
# The one backend of every config; Runtime API commands name servers as BACKEND/SERVER.
BACKEND_NAME = "releases"
# Names relative to the router's directory (haproxy runs there): a Unix socket path holds at
# most 107 bytes, and a test's or a project's state directory can be deeper than that.
ADMIN_SOCKET = "admin.sock"
MASTER_SOCKET = "master.sock"
RELEASE_MAP = "releases.map"
# Every request's log line starts with this, then: server name, status, total active ms.
# Lines without it are HAProxy's own messages (the same stdout/stderr file).
LOG_MARK = "safeship-request"

_NAME_RE = re.compile(r"[\x21-\x7e]{1,128}")
_SERVER_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class RenderedServer:
    """One ``server`` line: its name, address (HOST:PORT as HAProxy reads it) and weight."""

    name: str
    address: str
    weight: int


def check_backends(backends: Sequence[Backend]) -> list[Backend]:
    """The backends if a fleet router can take them, else ValueError with a one-line reason:
    names 1-128 visible ASCII characters and unique, weights 0-100 summing to 100 (or no
    backend), every instance's URL ``http://HOST:PORT``, one server per host."""
    names = set()
    for b in backends:
        if not _NAME_RE.fullmatch(b.name):
            raise ValueError(f"backend name {b.name[:40]!r} must be 1-128 visible ASCII characters")
        if b.name in names:
            raise ValueError("backend names must be unique")
        names.add(b.name)
        if isinstance(b.weight, bool) or not isinstance(b.weight, int) or not 0 <= b.weight <= 100:
            raise ValueError(f"backend {b.name}: weight must be an integer from 0 to 100")
        hosts = [s.host for s in b.servers]
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"backend {b.name}: one server per host")
        for server in b.instances:
            server_address(server.url)
    total = sum(b.weight for b in backends)
    if backends and total != 100:
        raise ValueError(f"weights must sum to 100, not {total}")
    return list(backends)


def server_address(url: str) -> str:
    """``HOST:PORT`` of ``http://HOST:PORT`` (IPv6 as ``[ADDR]:PORT``); ValueError otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or not parts.hostname
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"server url {url[:80]!r} must look like http://HOST:PORT")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def spread_weights(
    backends: Iterable[Backend], scale: int = MAX_SERVER_WEIGHT
) -> dict[tuple[str, str], int]:
    """Each server's weight, by (release, host), on a 0-``scale`` scale.

    A release's share is its weight divided by its number of servers; the largest share maps
    to ``scale`` (the finest split the scale allows), every server of a release with weight
    keeps at least 1, and all are divided by their common divisor (80/20 over two hosts each
    is 4/4/1/1: HAProxy's round robin then repeats the exact split every 10 requests).
    """
    shares = {(b.name, s.host): b.weight / len(b.instances) for b in backends for s in b.instances}
    top = max(shares.values(), default=0.0)
    weights = {
        key: (max(1, round(share / top * scale)) if share > 0 else 0)
        for key, share in shares.items()
    }
    divisor = math.gcd(*weights.values()) if any(weights.values()) else 1
    return {key: w // divisor for key, w in weights.items()}


def clean_server_name(release: str, host: str) -> str:
    """``RELEASE:HOST`` with characters HAProxy refuses (and ``:``) as ``_``."""
    name = _SERVER_CHARS.sub("_", release)
    return f"{name}:{_SERVER_CHARS.sub('_', host)}" if host else name


def assign_server_names(
    pairs: Iterable[tuple[str, str]], known: Mapping[str, tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    """``known`` (name -> (release, host), names already given) plus a new unique name for
    every pair of ``pairs`` that has none."""
    names = dict(known)
    given = {pair: name for name, pair in names.items()}
    for pair in pairs:
        if pair in given:
            continue
        base = clean_server_name(*pair)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names[name] = pair
        given[pair] = name
    return names


def render_map(names: Mapping[str, tuple[str, str]]) -> str:
    """The map file: server name -> release name, read by the release header's rule."""
    return "".join(f"{name} {release}\n" for name, (release, _host) in sorted(names.items()))


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


def render_config(
    prefix: Path,
    port: int,
    servers: Sequence[RenderedServer],
    settings: HaproxyRouterSettings,
) -> str:
    """A complete haproxy.cfg; every path lies under ``prefix``, where haproxy runs."""
    p = prefix.absolute()
    check = (
        f"check inter {_seconds(settings.check_interval)} fall {settings.fall} rise {settings.rise}"
    )
    lines = "".join(f"    server {s.name} {s.address} weight {s.weight} {check}\n" for s in servers)
    httpchk = f"    option httpchk GET {settings.check_path}\n" if settings.check_path else ""
    return f"""# Written by safeship; changes are overwritten on the next traffic shift.
global
    stats socket unix@{ADMIN_SOCKET} mode 600 level admin
    hard-stop-after {_seconds(settings.hard_stop_after)}
    log stdout format raw local0

defaults
    mode http
    log global
    option dontlognull
    option redispatch 1
    retries {settings.retries}
    # A server that dies closes its idle connections; a request sent on one just then gets
    # no answer at all and is retried elsewhere, but only a safe method's: a request that
    # may have taken effect is never sent twice.
    retry-on conn-failure empty-response
    timeout connect {_seconds(settings.connect_timeout)}
    timeout client {_seconds(settings.client_timeout)}
    timeout server {_seconds(settings.server_timeout)}
    timeout http-request 10s
    timeout check {_seconds(settings.connect_timeout)}

frontend safeship
    bind 127.0.0.1:{port}
    log-format "{LOG_MARK} %s %ST %Ta"
    option forwardfor
    default_backend {BACKEND_NAME}

backend {BACKEND_NAME}
    balance roundrobin
    # Idle server connections serve any request, a new client's first one too ("safe", the
    # default, opens a server connection per client connection: twice the latency for clients
    # that close after each request), as nginx's and the builtin router's pools do. HAProxy
    # drops an idle connection the server closed; one closed just as a request goes out is
    # retried elsewhere for a safe method only (retry-on, below).
    http-reuse always
    http-request disable-l7-retry unless METH_GET || METH_OPTIONS
{httpchk}    # Only HAProxy names the release that answered; a release's own header is replaced.
    http-response set-header {RELEASE_HEADER} %[srv_name,map({p / RELEASE_MAP})]
{lines}"""

"""The nginx.conf that NginxRouter writes: upstream weights, the release header, the JSON log.

A fleet release (``Backend.servers``) is an upstream server per host, its weight spread over
them as HAProxy's are (haproxy_config.spread_weights); a release without servers is its one
address at its own weight, as before fleets.

Every path lies under the router's private prefix (pid, logs and the five temp paths). The
release header comes from a ``map`` of ``$upstream_addr`` (the last address tried) to release
names, so a release cannot set it itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from safeship.routing.base import Backend
from safeship.routing.haproxy_config import server_address, spread_weights
from safeship.routing.proxy import RELEASE_HEADER

# nginx's temp paths, each set inside the prefix (the defaults lie outside it).
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render_config(prefix: Path, port: int, backends: Sequence[Backend], *, workers: int = 1) -> str:
    """A complete nginx.conf for these backends; every path lies under ``prefix``."""
    p = prefix.absolute()
    servers = [b for b in backends if b.weight > 0]
    temp = "\n".join(f"    {name}_temp_path {p}/temp/{name};" for name in TEMP_DIRS)
    release_map = _release_map(servers)
    if servers:
        lines = "\n".join(
            f"        server {address} weight={weight} max_fails=0;"
            for address, weight in _upstream_servers(servers)
        )
        upstream = f"    upstream safeship_releases {{\n{lines}\n        keepalive 32;\n    }}\n"
        location = (
            "            proxy_pass http://safeship_releases;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_set_header Host $http_host;\n"
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Forwarded-Proto $scheme;\n"
            "            proxy_next_upstream error timeout;\n"
            "            proxy_connect_timeout 5s;\n"
            # Bodies stream both ways, as through the builtin router: no size limit and no
            # temp files (the prefix is private to safeship's user, and nginx workers started
            # by root run as another user).
            "            client_max_body_size 0;\n"
            "            proxy_request_buffering off;\n"
            "            proxy_max_temp_file_size 0;\n"
            # Only nginx names the release that answered; a release's own header is dropped.
            f"            proxy_hide_header {RELEASE_HEADER};\n"
            f"            add_header {RELEASE_HEADER} $safeship_release always;\n"
        )
    else:
        upstream = ""
        location = '            return 503 "safeship router: no backends configured\\n";\n'
    return f"""# Written by safeship; changes are overwritten on the next traffic shift.
worker_processes {workers};
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    log_format safeship escape=json '{{"time":"$time_iso8601","status":$status,'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"request_time":$request_time,"upstream_response_time":"$upstream_response_time"}}';
    access_log {p}/logs/access.log safeship;
{temp}
{release_map}{upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{location}        }}
    }}
}}
"""


def _upstream_servers(backends: Sequence[Backend]) -> list[tuple[str, int]]:
    """(address, weight) of every upstream server: a release without servers is its one
    address at its own weight; a fleet release's weight is spread over its servers, one per
    host (haproxy_config.spread_weights, on nginx's weights from 1)."""
    if not any(b.servers for b in backends):
        return [(_address(b.url), b.weight) for b in backends]
    weights = spread_weights(backends)
    return [(server_address(s.url), weights[b.name, s.host]) for b in backends for s in b.instances]


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def upstream_addresses(url: str) -> list[str]:
    """How nginx writes this release's address in $upstream_addr: resolved, so localhost is
    127.0.0.1 (and [::1] where it resolves to that too)."""
    parts = urlsplit(url)
    if parts.hostname == "localhost":
        return [f"127.0.0.1:{parts.port}", f"[::1]:{parts.port}"]
    return [_address(url)]


def _release_map(servers: Sequence[Backend]) -> str:
    """``map $upstream_addr $safeship_release``: the name of the release that answered.

    $upstream_addr lists every server tried ("a, b" after a retry; " : " after an internal
    redirect); the release that answered is the last one, matched at the end.
    """
    lines = []
    dollar = ""
    for backend in servers:
        # In a map value "$" starts a variable, so a literal "$" comes from a geo block.
        name = backend.name.replace("\\", "\\\\").replace('"', '\\"')
        if "$" in name:
            name = name.replace("$", "${safeship_dollar}")
            dollar = '    geo $safeship_dollar {\n        default "$";\n    }\n'
        for address in dict.fromkeys(
            a for s in backend.instances for a in upstream_addresses(s.url)
        ):
            lines.append(f'        "~(^|[,:] ){re.escape(address)}$" "{name}";\n')
    return (
        f"{dollar}    map $upstream_addr $safeship_release {{\n"
        f'        default "";\n{"".join(lines)}    }}\n'
    )

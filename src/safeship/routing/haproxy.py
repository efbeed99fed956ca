"""HaproxyRouter: the FleetRouter port backed by a private HAProxy per environment.

safeship writes a complete haproxy.cfg under ``state_dir/haproxy`` (haproxy_config): one backend
with a server per (release, host), each health-checked, ``option redispatch`` so that a request
whose connect fails is retried on another server (a host that drops off costs a delay, not an
error). Every config is checked with ``haproxy -c`` before it is used; an invalid one is a
RouterError and the running HAProxy keeps its own.

HAProxy runs in master-worker mode (``haproxy -W -db``), detached in its own session, so it
outlives the safeship command that started it. Changes:

- Weights only (the servers exist already): the Runtime API on the admin socket (``set server
  releases/NAME weight N``), no reload. A server leaving traffic (its release's weight 0, or
  absent from the backends) is set to ``state drain``: it takes no new request and finishes
  the ones it holds; ``stats()`` counts those (``show stat`` ``scur``) for the drain.
- Servers added: a reload (SIGUSR2 to the master), which re-reads the checked config and lets
  the former worker finish its connections (``hard_stop_after`` at most). Runtime changes are
  lost at a reload, so the config carries the current weights. Servers absent from the
  backends (a release that left) are dropped then.

Stats: each request's log line (server, status, active time) goes to HAProxy's stdout, a file
read incrementally like nginx's access log, so counters survive reloads and are cumulative
since the router started (the log is emptied when HAProxy starts). ``stats()`` per release
counts what clients saw: the log alone. Each server's failed connects (``servers()``) come from
``show stat`` (``econ`` + ``wretr`` + ``wredis``: the log names only the server that answered),
carried over reloads in the state file. ``in_flight`` is ``scur`` summed over the current
worker and any former one still finishing requests (the master CLI reaches it).

Files in ``state_dir/haproxy`` (0700; safeship's own files 0600): haproxy.cfg, releases.map,
state.json ({"backends", "names", "config_servers", "carried"}), router.json ({"pid", "port",
"start_ticks"}), haproxy.log (HAProxy's output and request lines), admin.sock and master.sock
(mode 600).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from safeship import _files, _processes
from safeship.routing._supervised import live_server, read_json_object
from safeship.routing.base import Backend, BackendStats, RouterError, Server, ServerState
from safeship.routing.haproxy_config import (
    ADMIN_SOCKET,
    BACKEND_NAME,
    LOG_MARK,
    MASTER_SOCKET,
    RELEASE_MAP,
    RenderedServer,
    assign_server_names,
    check_backends,
    render_config,
    render_map,
    server_address,
    spread_weights,
)
from safeship.routing.proxy import Counters
from safeship.routing.proxy.state import reachable_socket_path
from safeship.routing.settings import HaproxyRouterSettings

_READ_CHUNK = 1 << 20
_SOCKET_TIMEOUT = 5.0
# show stat's status -> ServerState.status ("UP 1/2": up, one failed check so far).
_STATUSES = (
    ("UP", "up"),
    ("DOWN", "down"),
    ("DRAIN", "drain"),
    ("NOLB", "drain"),
    ("MAINT", "maint"),
    ("no check", "unchecked"),
)


class HaproxyRouter:
    """Router adapter that runs HAProxy for one environment under ``state_dir/haproxy``."""

    def __init__(
        self,
        environment: str,
        port: int,
        state_dir: Path,
        settings: HaproxyRouterSettings | None = None,
        *,
        haproxy: str = "haproxy",
        grace: float = 10.0,
        startup_timeout: float = 5.0,
    ) -> None:
        self.environment = environment
        self.port = port
        self.settings = settings or HaproxyRouterSettings(type="haproxy")
        self.prefix = Path(state_dir).absolute() / "haproxy"
        self.haproxy = haproxy
        self.grace = grace
        self.startup_timeout = startup_timeout
        self._offset = 0
        self._counters: dict[str, Counters] = {}  # by server name, from the log

    @property
    def conf_path(self) -> Path:
        return self.prefix / "haproxy.cfg"

    @property
    def log_path(self) -> Path:
        return self.prefix / "haproxy.log"

    @property
    def state_path(self) -> Path:
        return self.prefix / "state.json"

    @property
    def pid(self) -> int | None:
        """The master's pid."""
        info = self._live_info()
        return int(info["pid"]) if info else None

    @property
    def worker_pid(self) -> int | None:
        """The pid of the worker serving now (a reload starts a new one)."""
        return self._worker_pid() if self.is_running() else None

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_running(self) -> None:
        info = self._live_info()
        if info is not None:
            if info["port"] != self.port:
                raise RouterError(
                    f"the {self.environment} haproxy (pid {info['pid']}) listens on port"
                    f" {info['port']}, not {self.port}; stop it first"
                )
            return
        _files.private_dir(self.prefix)
        state = self._read_state()
        backends = self.backends()
        names = assign_server_names(_pairs(backends), _names(state))
        servers = _rendered(backends, names)
        self._install(servers, names)
        # A fresh haproxy starts a fresh log: stats are cumulative since the router started.
        _files.write_private(self.log_path, b"")
        self._offset, self._counters = 0, {}
        for sock in (ADMIN_SOCKET, MASTER_SOCKET):
            with contextlib.suppress(FileNotFoundError):
                (self.prefix / sock).unlink()
        self._write_state(
            state,
            names=names,
            config_servers={s.name: s.address for s in servers},
            carried={},
        )
        try:
            proc = _processes.spawn_detached(
                [
                    self.haproxy,
                    "-W",
                    "-db",
                    "-S",
                    f"unix@{MASTER_SOCKET},mode,600",
                    "-f",
                    "haproxy.cfg",
                ],
                env=dict(os.environ),
                cwd=self.prefix,
                log_path=self.log_path,
            )
        except OSError as exc:
            raise RouterError(f"cannot start haproxy: {exc}") from exc
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = _processes.exit_code(proc.pid)
            if code is not None:
                _processes.reap(proc.pid)
                raise RouterError(f"haproxy exited with code {code}: {self._first_alert()}")
            # The worker answers: it listens. The master answers once it runs its loop, which
            # handles the signals of a reload or a stop.
            if self._worker_pid() is not None and self._master_answers():
                _files.write_private_json(
                    self.prefix / "router.json",
                    {
                        "pid": proc.pid,
                        "port": self.port,
                        "start_ticks": _processes.start_ticks(proc.pid),
                    },
                )
                self._drain_zero_weight(servers)
                return
            time.sleep(0.02)
        _processes.terminate(proc.pid, 1.0, group=True)
        raise RouterError(
            f"haproxy did not listen on port {self.port} within"
            f" {self.startup_timeout:g} s: {self._first_alert()}"
        )

    def is_running(self) -> bool:
        return self._live_info() is not None

    def stop(self) -> None:
        """SIGUSR1 (soft stop: requests in flight finish), SIGKILL to the group if it hangs."""
        info = self._live_info()
        if info is None:
            return
        pid = int(info["pid"])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGUSR1)
        # The master exits once its workers have (they finish the requests they hold).
        if not _processes.wait_exited(pid, self.grace + 2.0):
            _processes.terminate(pid, 0, group=True)
        _processes.reap(pid)
        if _processes.is_running(pid, info.get("start_ticks")):
            raise RouterError(f"the {self.environment} haproxy (pid {pid}) did not stop")
        with contextlib.suppress(FileNotFoundError):
            (self.prefix / "router.json").unlink()

    # -- weights --------------------------------------------------------------------------

    def set_backends(self, backends: Sequence[Backend]) -> None:
        try:
            checked = check_backends(backends)
        except ValueError as exc:
            raise RouterError(f"invalid backends: {exc}") from exc
        state = self._read_state()
        names = assign_server_names(_pairs(checked), _names(state))
        servers = _rendered(checked, names)
        if self.is_running():
            running: dict[str, str] = state.get("config_servers", {})
            if any(running.get(s.name) != s.address for s in servers):
                self._reload(state, servers, names)
                state = self._read_state()
            else:
                # The config on disk first (checked): what a later reload or restart reads.
                self._install(_with_leaving(servers, running), names)
                self._set_weights(servers, running)
        self._write_state(state, backends=[_backend_json(b) for b in checked], names=names)

    def backends(self) -> list[Backend]:
        data = self._read_state().get("backends", [])
        return [
            Backend(
                str(b["name"]),
                str(b["url"]),
                int(b["weight"]),
                tuple(Server(str(s["host"]), str(s["url"])) for s in b.get("servers", [])),
            )
            for b in data
        ]

    def _set_weights(self, servers: Sequence[RenderedServer], running: dict[str, str]) -> None:
        """The Runtime API: new weights, drain for a server leaving traffic; no reload."""
        wanted = {s.name: s.weight for s in servers}
        commands = []
        for name in running:
            server = f"{BACKEND_NAME}/{name}"
            weight = wanted.get(name, 0)
            if weight > 0:
                commands.append(f"set server {server} weight {weight}")
                commands.append(f"set server {server} state ready")
            else:
                commands.append(f"set server {server} state drain")
        self._runtime(commands)

    def _drain_zero_weight(self, servers: Sequence[RenderedServer]) -> None:
        # The config has no drain state; a weight-0 server is drained once HAProxy runs.
        self._runtime(
            [f"set server {BACKEND_NAME}/{s.name} state drain" for s in servers if s.weight == 0]
        )

    def _reload(
        self,
        state: dict[str, Any],
        servers: Sequence[RenderedServer],
        names: dict[str, tuple[str, str]],
    ) -> None:
        """Install the checked config and SIGUSR2 the master; the former worker finishes its
        connections. Waits until the new worker answers on the admin socket."""
        self._install(servers, names)
        before = self._worker_pid()
        # show stat counters start over in the new worker: carry the connect errors.
        carried: dict[str, int] = dict(state.get("carried", {}))
        for row in self._show_stat():
            carried[row["svname"]] = carried.get(row["svname"], 0) + _connect_errors(row)
        self._write_state(
            state, config_servers={s.name: s.address for s in servers}, carried=carried
        )
        pid = self.pid
        if pid is None:
            raise RouterError(f"the {self.environment} haproxy is not running")
        since = _size(self.log_path)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            now = self._worker_pid()
            if now is not None and now != before and self._master_answers():
                self._drain_zero_weight(servers)
                return
            if not _processes.is_running(pid):
                raise RouterError(f"haproxy exited during a reload: {self._first_alert(since)}")
            time.sleep(0.02)
        raise RouterError(
            f"haproxy did not reload within {self.startup_timeout:g} s: {self._first_alert(since)}"
        )

    def _install(
        self, servers: Sequence[RenderedServer], names: dict[str, tuple[str, str]]
    ) -> None:
        """Check the config with ``haproxy -c`` and put it in place; an invalid one leaves
        the running config (file and process) as it was."""
        # The map only grows (a name once given keeps its release): writing it before the
        # check cannot break the config in force.
        _files.write_private(self.prefix / RELEASE_MAP, render_map(names))
        self.apply(render_config(self.prefix, self.port, servers, self.settings), reload=False)

    def apply(self, config: str, *, reload: bool = True) -> None:
        """Check ``config`` with ``haproxy -c``, install it and (``reload``) reload HAProxy.

        An invalid config raises a one-line RouterError and leaves the running one as it was.
        """
        candidate = self.prefix / "haproxy.cfg.next"
        _files.write_private(candidate, config)
        result = self._run("-c", "-f", candidate.name)
        if result.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
            raise RouterError(
                f"haproxy -c rejected the config: {_haproxy_error(result.stderr + result.stdout)}"
            )
        os.replace(candidate, self.conf_path)
        if reload:
            pid = self.pid
            if pid is None:
                raise RouterError(f"the {self.environment} haproxy is not running")
            os.kill(pid, signal.SIGUSR2)

    # -- stats ----------------------------------------------------------------------------

    def stats(self) -> dict[str, BackendStats]:
        """Per release, what its clients saw: the log's answers. A connect that failed and
        was sent on to another server is no error of the release (clients got an answer):
        on a fleet it is usually a host that dropped off, which the rollout's host watch
        judges, and a release that refuses connections is caught by its process check and
        the router's health checks. ``servers()`` keeps each server's failed connects."""
        names = _names(self._read_state())
        per_server = self._server_stats()
        totals: dict[str, BackendStats] = {}
        for name, stats in per_server.items():
            pair = names.get(name)
            if pair is None:
                continue
            seen = replace(
                stats,
                requests=stats.requests - stats.connect_errors,
                connect_errors=0,
            )
            totals[pair[0]] = _plus(totals.get(pair[0]), seen)
        return totals

    def servers(self) -> list[ServerState]:
        state = self._read_state()
        names = _names(state)
        per_server = self._server_stats()
        urls = {(b.name, s.host): s.url for b in self.backends() for s in b.instances}
        result = []
        for row in self._show_stat():
            name = row["svname"]
            pair = names.get(name)
            if pair is None:
                continue
            status = _status(row)
            result.append(
                ServerState(
                    backend=pair[0],
                    host=pair[1],
                    url=urls.get(pair, f"http://{state.get('config_servers', {}).get(name, '')}"),
                    weight=_int(row.get("weight")),
                    status=status,
                    stats=per_server.get(name, BackendStats(in_flight=0)),
                )
            )
        return result

    def _server_stats(self) -> dict[str, BackendStats]:
        """Cumulative stats by server name: the log's requests, the connect errors of
        ``show stat`` (plus those carried over reloads), ``scur`` of every live worker."""
        self._read_log()
        carried: dict[str, int] = self._read_state().get("carried", {})
        running = self.is_running()
        connect_errors: dict[str, int] = dict(carried)
        in_flight: dict[str, int] = {}
        if running:
            for row in self._show_stat():
                connect_errors[row["svname"]] = connect_errors.get(
                    row["svname"], 0
                ) + _connect_errors(row)
                in_flight[row["svname"]] = _int(row.get("scur"))
            for row in self._former_workers_stat():
                in_flight[row["svname"]] = in_flight.get(row["svname"], 0) + _int(row.get("scur"))
        result = {}
        for name in {*self._counters, *connect_errors, *in_flight}:
            counters = self._counters.get(name, Counters())
            data = counters.to_json()
            errors = connect_errors.get(name, 0)
            data["requests"] += errors
            data["connect_errors"] += errors
            data["in_flight"] = in_flight.get(name, 0)
            result[name] = BackendStats.from_json(data)
        return result

    def _read_log(self) -> None:
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                if size < self._offset:  # emptied (haproxy started again): start over
                    self._offset, self._counters = 0, {}
                log.seek(self._offset)
                while chunk := log.read(_READ_CHUNK):
                    end = chunk.rfind(b"\n")
                    if end < 0:  # a partial line: read again next time
                        if len(chunk) < _READ_CHUNK:
                            break
                        end = len(chunk) - 1  # one absurd line longer than a chunk: skip it
                    for line in chunk[: end + 1].splitlines():
                        self._count(line)
                    self._offset += end + 1
                    log.seek(self._offset)
        except FileNotFoundError:
            pass

    def _count(self, line: bytes) -> None:
        fields = line.split()
        if len(fields) != 4 or fields[0] != LOG_MARK.encode():
            return  # HAProxy's own messages share the file
        try:
            name, status, active_ms = fields[1].decode(), int(fields[2]), float(fields[3])
        except ValueError:
            return
        if name.startswith("<"):  # <NOSRV>: answered by HAProxy (no server up)
            return
        self._counters.setdefault(name, Counters()).record_response(status, max(active_ms, 0.0))

    # -- haproxy --------------------------------------------------------------------------

    def _show_stat(self) -> list[dict[str, str]]:
        try:
            text = self._runtime(["show stat"])
        except RouterError:
            return []
        return _server_rows(text)

    def _former_workers_stat(self) -> list[dict[str, str]]:
        """``show stat`` rows of former workers still finishing requests after a reload."""
        try:
            procs = self._ask(MASTER_SOCKET, "show proc")
        except RouterError:
            return []
        rows: list[dict[str, str]] = []
        in_old = False
        for line in procs.splitlines():
            if line.startswith("# old workers"):
                in_old = True
            elif line.startswith("#"):
                in_old = False
            elif in_old and line.split() and line.split()[0].isdigit():
                with contextlib.suppress(RouterError):
                    rows += _server_rows(self._ask(MASTER_SOCKET, f"@!{line.split()[0]} show stat"))
        return rows

    def _master_answers(self) -> bool:
        try:
            return "worker" in self._ask(MASTER_SOCKET, "show proc")
        except RouterError:
            return False

    def _worker_pid(self) -> int | None:
        """The pid of the worker answering on the admin socket, None if none answers."""
        try:
            text = self._runtime(["show info"])
        except RouterError:
            return None
        for line in text.splitlines():
            if line.startswith("Pid:"):
                return _int(line.split(":", 1)[1])
        return None

    def _runtime(self, commands: Sequence[str]) -> str:
        """Run Runtime API ``commands`` (one connection); any answer but an empty one to a
        ``set`` command is an error."""
        if not commands:
            return ""
        answer = self._ask(ADMIN_SOCKET, "; ".join(commands))
        if all(c.startswith("set ") for c in commands) and answer.strip():
            raise RouterError(f"haproxy refused a change: {' '.join(answer.split())[:200]}")
        return answer

    def _ask(self, socket_name: str, command: str) -> str:
        try:
            with (
                reachable_socket_path(self.prefix / socket_name) as path,
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
            ):
                sock.settimeout(_SOCKET_TIMEOUT)
                sock.connect(path)
                sock.sendall(command.encode() + b"\n")
                sock.shutdown(socket.SHUT_WR)  # the master CLI answers once it sees the end
                out = b""
                while chunk := sock.recv(65536):
                    out += chunk
        except OSError as exc:
            raise RouterError(f"cannot reach the {self.environment} haproxy: {exc}") from exc
        return out.decode(errors="replace")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.haproxy, *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                cwd=self.prefix,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RouterError(f"cannot run {self.haproxy}: {exc}") from exc

    def _first_alert(self, since: int = 0) -> str:
        """The first alert haproxy logged from offset ``since`` of its log (the start of an
        attempt): the cause, where the last is often a generic "Exiting"."""
        with contextlib.suppress(OSError), self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read(_READ_CHUNK).decode(errors="replace")
            alerts = [ln for ln in text.splitlines() if "[ALERT]" in ln]
            if alerts:
                return _haproxy_error(alerts[0])
        return "no error logged"

    def _read_state(self) -> dict[str, Any]:
        return read_json_object(self.state_path)

    def _write_state(self, state: dict[str, Any], **changes: Any) -> None:
        if "names" in changes:
            changes["names"] = {k: list(v) for k, v in changes["names"].items()}
        state.update(changes)
        _files.private_dir(self.prefix)
        _files.write_private_json(self.state_path, state)

    def _live_info(self) -> dict[str, Any] | None:
        return live_server(self.prefix / "router.json")


def _pairs(backends: Sequence[Backend]) -> list[tuple[str, str]]:
    return [(b.name, s.host) for b in backends for s in b.instances]


def _names(state: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {str(k): (str(v[0]), str(v[1])) for k, v in state.get("names", {}).items()}


def _rendered(
    backends: Sequence[Backend], names: dict[str, tuple[str, str]]
) -> list[RenderedServer]:
    given = {pair: name for name, pair in names.items()}
    weights = spread_weights(backends)
    return [
        RenderedServer(given[b.name, s.host], server_address(s.url), weights[b.name, s.host])
        for b in backends
        for s in b.instances
    ]


def _with_leaving(
    servers: Sequence[RenderedServer], running: dict[str, str]
) -> list[RenderedServer]:
    """``servers`` plus the running config's servers absent from them, at weight 0: the config
    on disk says what HAProxy holds until the next reload drops them."""
    wanted = {s.name for s in servers}
    return [
        *servers,
        *(RenderedServer(n, a, 0) for n, a in running.items() if n not in wanted),
    ]


def _backend_json(backend: Backend) -> dict[str, Any]:
    return asdict(backend)


def _server_rows(text: str) -> list[dict[str, str]]:
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [
        r
        for r in rows
        if r.get("pxname") == BACKEND_NAME and r.get("svname") not in ("BACKEND", None)
    ]


def _status(row: dict[str, str]) -> str:
    status = row.get("status", "")
    if status.startswith("UP") and _int(row.get("weight")) == 0:
        return "drain"
    for prefix, name in _STATUSES:
        if status.startswith(prefix):
            return name
    return status.lower() or "unchecked"


def _plus(total: BackendStats | None, more: BackendStats) -> BackendStats:
    if total is None:
        return more
    classes = dict(total.status_classes)
    for key, n in more.status_classes.items():
        classes[key] = classes.get(key, 0) + n
    return BackendStats(
        requests=total.requests + more.requests,
        responses_5xx=total.responses_5xx + more.responses_5xx,
        connect_errors=total.connect_errors + more.connect_errors,
        status_classes=classes,
        latency_buckets=tuple(
            a + b for a, b in zip(total.latency_buckets, more.latency_buckets, strict=True)
        ),
        latency_sum_ms=total.latency_sum_ms + more.latency_sum_ms,
        in_flight=(total.in_flight or 0) + (more.in_flight or 0),
    )


def _connect_errors(row: dict[str, str]) -> int:
    """Attempts on this server whose connect failed: those retried on it (``wretr``), those
    sent on to another (``wredis``) and those that ended the request (``econ``)."""
    return sum(_int(row.get(key)) for key in ("econ", "wretr", "wredis"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _int(text: str | None) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return 0


def _haproxy_error(text: str) -> str:
    """The first alert of haproxy's output, without its prefix, on one line."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    line = next((ln for ln in lines if "[ALERT]" in ln), lines[0] if lines else "")
    if "] : " in line:
        line = line.split("] : ", 1)[1]
    elif ") : " in line:
        line = line.split(") : ", 1)[1]
    return " ".join(line.split())[:300] or "no detail"

"""NginxRouter: the Router port backed by a real nginx under a private prefix.

safeship writes a complete nginx.conf under ``state_dir/nginx`` (pid, logs and the five temp
paths all inside it): an upstream of the releases with their weights (weight 0 is left out), a
server on the environment's port, and a JSON access log (``escape=json``). Every change is
validated with ``nginx -t`` before it replaces the running file, then applied with
``nginx -s reload`` (graceful: old workers finish their requests). nginx runs detached in its
own session (``daemon off`` as our child, so it outlives the safeship command that started it).

Release header: every response carries ``X-Safeship-Release: NAME``, naming the release that
answered, as the builtin router does (a ``map`` from ``$upstream_addr``, the last address tried,
to release names; a release cannot set the header itself). nginx cannot tell how many requests
are in flight per release, so ``stats()`` reports ``in_flight`` as None.

Stats: ``stats()`` reads the access log from where the last call stopped (the offset is kept in
this object; a new object starts from the top, the log is emptied when nginx starts) into
cumulative counters per release, so memory is bounded by the number of releases. Upstream
addresses map to release names through ``names`` in ``backends.json``, which keeps every
address ever set (a port reused by a later release is counted as that release from then on).
A request nginx retried on another release after a connect error counts as one connect error
for the first release, as in the builtin router.

Reloads: new connections and requests in flight are never dropped. A client that keeps an idle
keep-alive connection open across a reload may find it closed by the old worker just as it
sends its next request (the usual keep-alive race; browsers and most HTTP clients retry an
idempotent request on a fresh connection).

Files in ``state_dir/nginx`` (0700 whatever the umask; safeship's own files 0600): nginx.conf,
backends.json ({"backends": [...], "names": {...}}), router.json ({"pid", "port",
"start_ticks"}), nginx.pid, logs/access.log, logs/error.log, temp/ (unused: bodies stream, and
nginx workers started by root run as another user, who cannot enter the prefix).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship import _files, _processes
from safeship.routing._supervised import live_server, read_json_object
from safeship.routing.base import Backend, BackendStats, RouterError, Server
from safeship.routing.haproxy_config import check_backends
from safeship.routing.nginx_config import TEMP_DIRS, render_config, upstream_addresses
from safeship.routing.proxy import Counters, parse_backends

if TYPE_CHECKING:
    from safeship.routing.settings import NginxRouterSettings

_READ_CHUNK = 1 << 20
# $upstream_addr separates retried servers with ", " and internal redirects with " : ".
_ATTEMPT_SEPARATORS = (" : ", ", ")


class NginxRouter:
    """Router adapter that runs nginx for one environment under ``state_dir/nginx``."""

    def __init__(
        self,
        environment: str,
        port: int,
        state_dir: Path,
        settings: NginxRouterSettings | None = None,
        *,
        nginx: str = "nginx",
        workers: int = 1,
        grace: float = 10.0,
        startup_timeout: float = 5.0,
    ) -> None:
        self.environment = environment
        self.port = port
        # From safeship.toml; every router takes its settings (nginx has no options yet).
        self.settings = settings
        self.prefix = Path(state_dir).absolute() / "nginx"
        self.nginx = nginx
        self.workers = workers
        self.grace = grace
        self.startup_timeout = startup_timeout
        self._offset = 0
        self._counters: dict[str, Counters] = {}

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def pid(self) -> int | None:
        info = self._live_info()
        return int(info["pid"]) if info else None

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_running(self) -> None:
        info = self._live_info()
        if info is not None:
            if info["port"] != self.port:
                raise RouterError(
                    f"the {self.environment} nginx (pid {info['pid']}) listens on port"
                    f" {info['port']}, not {self.port}; stop it first"
                )
            return
        # Private to safeship's user (0700), whatever the umask: the logs show the traffic.
        for sub in ("logs", "temp", *(f"temp/{d}" for d in TEMP_DIRS)):
            _files.private_dir(self.prefix / sub)
        config = render_config(self.prefix, self.port, self.backends(), workers=self.workers)
        self._validate_and_install(config)
        # A fresh nginx starts a fresh log: stats are cumulative since the router started.
        _files.write_private(self.access_log, b"")
        with contextlib.suppress(FileNotFoundError):
            (self.prefix / "nginx.pid").unlink()
        self._offset, self._counters = 0, {}
        try:
            proc = _processes.spawn_detached(
                [
                    self.nginx,
                    "-p",
                    str(self.prefix),
                    "-c",
                    str(self.conf_path),
                    "-g",
                    "daemon off;",
                ],
                env=dict(os.environ),
                cwd=self.prefix,
                log_path=self.prefix / "logs" / "stderr.log",
            )
        except OSError as exc:
            raise RouterError(f"cannot start nginx: {exc}") from exc
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = _processes.exit_code(proc.pid)
            if code is not None:
                _processes.reap(proc.pid)
                raise RouterError(f"nginx exited with code {code}: {self._last_error()}")
            # nginx writes its pid file once its listening sockets are bound.
            if _read_pid(self.prefix / "nginx.pid") == proc.pid:
                _files.write_private_json(
                    self.prefix / "router.json",
                    {
                        "pid": proc.pid,
                        "port": self.port,
                        "start_ticks": _processes.start_ticks(proc.pid),
                    },
                )
                return
            time.sleep(0.02)
        _processes.terminate(proc.pid, 1.0, group=True)
        raise RouterError(
            f"nginx did not listen on port {self.port} within"
            f" {self.startup_timeout:g} s: {self._last_error()}"
        )

    def is_running(self) -> bool:
        return self._live_info() is not None

    def stop(self) -> None:
        """``nginx -s quit`` (in-flight requests finish), SIGKILL to the group if it hangs."""
        info = self._live_info()
        if info is None:
            return
        pid = int(info["pid"])
        with contextlib.suppress(RouterError):
            self._signal("quit")
        if not _processes.wait_exited(pid, self.grace + 2.0):
            _processes.terminate(pid, 0, group=True)
        _processes.reap(pid)
        if _processes.is_running(pid, info.get("start_ticks")):
            raise RouterError(f"the {self.environment} nginx (pid {pid}) did not stop")
        with contextlib.suppress(FileNotFoundError):
            (self.prefix / "router.json").unlink()

    # -- weights --------------------------------------------------------------------------

    def set_backends(self, backends: Sequence[Backend]) -> None:
        try:
            if any(b.servers for b in backends):  # a fleet: servers on other hosts
                checked = check_backends(backends)
            else:
                checked = parse_backends({"backends": [asdict(b) for b in backends]})
        except ValueError as exc:
            raise RouterError(f"invalid backends: {exc}") from exc
        state = self._read_state()
        names = {
            **state.get("names", {}),
            **{
                address: b.name
                for b in checked
                for s in b.instances
                for address in upstream_addresses(s.url)
            },
        }
        if self.is_running():
            self.apply(render_config(self.prefix, self.port, checked, workers=self.workers))
        _files.write_private_json(
            self.prefix / "backends.json",
            {"backends": [asdict(b) for b in checked], "names": names},
        )

    def apply(self, config: str) -> None:
        """Validate ``config`` with ``nginx -t``, install it, reload gracefully.

        An invalid config raises RouterError and leaves the running one (file and process) as
        it was.
        """
        if not self.is_running():
            raise RouterError(f"the {self.environment} nginx is not running")
        self._validate_and_install(config)
        self._signal("reload")

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

    # -- stats ----------------------------------------------------------------------------

    def stats(self) -> dict[str, BackendStats]:
        names: dict[str, str] = self._read_state().get("names", {})
        try:
            with self.access_log.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                if size < self._offset:  # truncated (nginx restarted): start over
                    self._offset, self._counters = 0, {}
                log.seek(self._offset)
                while chunk := log.read(_READ_CHUNK):
                    end = chunk.rfind(b"\n")
                    if end < 0:  # a partial line: read again next time
                        if len(chunk) < _READ_CHUNK:
                            break
                        end = len(chunk) - 1  # one absurd line longer than a chunk: skip it
                    for line in chunk[: end + 1].splitlines():
                        self._count(line, names)
                    self._offset += end + 1
                    log.seek(self._offset)
        except FileNotFoundError:
            pass
        # The access log tells nothing of requests still in flight: None, "cannot tell".
        return {
            name: replace(BackendStats.from_json(c.to_json()), in_flight=None)
            for name, c in self._counters.items()
        }

    def _count(self, line: bytes, names: dict[str, str]) -> None:
        try:
            entry = json.loads(line)
            status = int(entry["status"])
        except (ValueError, KeyError, TypeError):
            return
        attempts = _split(str(entry.get("upstream", "")))
        times = _split(str(entry.get("upstream_response_time", "")))
        for i, addr in enumerate(attempts):
            name = names.get(addr)
            if name is None:
                continue
            counters = self._counters.setdefault(name, Counters())
            if i < len(attempts) - 1:
                counters.record_connect_error()
                continue
            seconds = _float(times[i] if i < len(times) else "") or _float(
                str(entry.get("request_time", ""))
            )
            counters.record_response(status, (seconds or 0.0) * 1000.0)

    # -- nginx ----------------------------------------------------------------------------

    def _validate_and_install(self, config: str) -> None:
        candidate = self.prefix / "nginx.conf.next"
        _files.write_private(candidate, config)
        result = self._run("-c", str(candidate), "-t")
        if result.returncode != 0:
            raise RouterError(f"nginx -t rejected the config: {_nginx_error(result.stderr)}")
        os.replace(candidate, self.conf_path)

    def _signal(self, name: str) -> None:
        result = self._run("-c", str(self.conf_path), "-s", name)
        if result.returncode != 0:
            raise RouterError(f"nginx -s {name} failed: {_nginx_error(result.stderr)}")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.nginx, "-p", str(self.prefix), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RouterError(f"cannot run {self.nginx}: {exc}") from exc

    def _last_error(self) -> str:
        """The last useful line nginx logged (its bind retries end with a vaguer one)."""
        for name in ("error.log", "stderr.log"):
            with contextlib.suppress(OSError):
                lines = (self.prefix / "logs" / name).read_text(errors="replace").splitlines()
                useful = [ln for ln in lines if ln.strip() and "still could not bind" not in ln]
                if useful:
                    return _nginx_error(useful[-1])
        return "no error logged"

    def _read_state(self) -> dict[str, Any]:
        return read_json_object(self.prefix / "backends.json")

    def _live_info(self) -> dict[str, Any] | None:
        return live_server(self.prefix / "router.json")


def _split(value: str) -> list[str]:
    for sep in _ATTEMPT_SEPARATORS:
        value = value.replace(sep, "\n")
    return [v.strip() for v in value.split("\n") if v.strip() and v.strip() != "-"]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _nginx_error(text: str) -> str:
    """The first meaningful line of nginx's output, without its timestamp prefix."""
    lines = [line for line in text.splitlines() if line.strip()]
    line = next(
        (ln for ln in lines if "[emerg]" in ln or "[alert]" in ln), lines[0] if lines else ""
    )
    if "] " in line:
        line = re.sub(r"^\d+#\d+: ", "", line.split("] ", 1)[1])
    return " ".join(line.split())[:300] or "no detail"

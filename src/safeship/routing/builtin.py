"""BuiltinRouter: the Router port backed by the builtin proxy process (safeship.routing.proxy).

The proxy runs detached, in its own session, so it outlives the safeship command that started
it; this class finds it again through ``state_dir/router.json`` and drives its admin API over
the Unix socket router.json names (in a 0700 directory: only this user can reach it).

A router is signalled only while router.json's pid is verifiably the process that wrote it:
its start time (``start_ticks``) must match, as for the local target's releases (see
safeship._processes), so a pid reused since the router died is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship import _files, _processes
from safeship.routing.base import Backend, BackendStats, RouterError
from safeship.routing.proxy.state import admin_socket_path, reachable_socket_path
from safeship.routing.settings import BuiltinRouterSettings

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class RouterInfo:
    """The contents of router.json."""

    pid: int
    port: int
    admin_socket: Path
    started_at: float
    # None without /proc, and in files of routers from before it was recorded.
    start_ticks: int | None = None


class BuiltinRouter:
    """Router adapter that runs ``python -m safeship.routing.proxy`` for one environment."""

    def __init__(
        self,
        environment: str,
        port: int,
        state_dir: Path,
        settings: BuiltinRouterSettings | None = None,
        *,
        upstream_timeout: float = 30.0,
        grace: float = 10.0,
        startup_timeout: float = 5.0,
        admin_timeout: float = 3.0,
    ) -> None:
        self.environment = environment
        self.port = port
        # Absolute, because the proxy runs with state_dir as its working directory.
        self.state_dir = Path(state_dir).absolute()
        self.settings = settings or BuiltinRouterSettings()
        self.upstream_timeout = upstream_timeout
        self.grace = grace
        self.startup_timeout = startup_timeout
        self.admin_timeout = admin_timeout

    @property
    def info_path(self) -> Path:
        return self.state_dir / "router.json"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "router.log"

    @property
    def pid(self) -> int | None:
        """The router's pid if its process is alive, else None."""
        info = self._live_info()
        return info.pid if info else None

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_running(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        info = self._live_info()
        if info is not None:
            if info.port != self.port:
                raise RouterError(
                    f"the {self.environment} router (pid {info.pid}) listens on port {info.port},"
                    f" not {self.port}; stop it first"
                )
            # It may still be starting (another command just launched it): wait for health.
            while self._health_pid(info) != info.pid:
                if time.monotonic() > deadline or not _alive(info):
                    raise RouterError(
                        f"the {self.environment} router (pid {info.pid}) does not answer"
                        f" on its admin socket {info.admin_socket}"
                    )
                time.sleep(0.05)
            # Started with other settings (the config changed since): apply ours.
            self._apply_sticky(info)
            return

        _files.private_dir(self.state_dir)
        if not _port_free(self.port):
            raise RouterError(f"port {self.port} is already in use by another process")
        proc = self._spawn()
        while time.monotonic() < deadline:
            code = _processes.exit_code(proc.pid)
            if code is not None:
                _processes.reap(proc.pid)
                raise RouterError(self._exit_reason(code))
            info = self._read_info()
            if info is not None and info.pid == proc.pid and self._health_pid(info) == proc.pid:
                return
            time.sleep(0.05)
        _processes.terminate(proc.pid, 1.0, group=False)
        raise RouterError(
            f"the {self.environment} router did not become ready within"
            f" {self.startup_timeout:g} s (see {self.log_path})"
        )

    def is_running(self) -> bool:
        info = self._live_info()
        return info is not None and self._health_pid(info) == info.pid

    def stop(self) -> None:
        """Graceful stop via the admin API; SIGTERM, then SIGKILL if it does not exit in time."""
        import httpx

        info = self._live_info()
        if info is None:
            return
        if info.start_ticks is None and self._health_pid(info) != info.pid:
            # An old router.json, without the start time: signal the pid only if the router
            # on the admin port confirms it is that process.
            self._remove_info_if(info.pid)
            return
        with contextlib.suppress(httpx.HTTPError, OSError), self._client(info) as client:
            client.post(_admin_url("/admin/shutdown"))
        # In-flight requests may take up to the grace period to finish.
        if not _processes.wait_exited(info.pid, self.grace + 2.0):
            _processes.terminate(info.pid, 2.0, group=False)
        if _alive(info):
            raise RouterError(f"the {self.environment} router (pid {info.pid}) did not stop")
        # A killed router could not remove its own file.
        self._remove_info_if(info.pid)

    # -- admin API ------------------------------------------------------------------------

    def set_backends(self, backends: Sequence[Backend]) -> None:
        self._admin("PUT", "/admin/backends", {"backends": [asdict(b) for b in backends]})

    def backends(self) -> list[Backend]:
        data = self._admin("GET", "/admin/backends")
        return [
            Backend(name=b["name"], url=b["url"], weight=int(b["weight"])) for b in data["backends"]
        ]

    def stats(self) -> dict[str, BackendStats]:
        data = self._admin("GET", "/admin/stats")
        return {name: BackendStats.from_json(s) for name, s in data["backends"].items()}

    def _apply_sticky(self, info: RouterInfo) -> None:
        """Give a running router this object's sticky settings, unless it has them already."""
        import httpx

        wanted = {"sticky": self.settings.sticky, "sticky_name": self.settings.sticky_name}
        with (
            contextlib.suppress(httpx.HTTPError, ValueError, OSError),
            self._client(info) as client,
        ):
            response = client.get(_admin_url("/admin/sticky"))
            if response.status_code == 404 and wanted["sticky"] == "off":
                return  # a router from before sticky sessions: it has none, as wanted
            if response.status_code == 200 and response.json() == wanted:
                return
        self._admin("PUT", "/admin/sticky", wanted)

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        info = self._live_info()
        if info is None:
            raise RouterError(f"the {self.environment} router is not running")
        try:
            with self._client(info) as client:
                response = client.request(method, _admin_url(path), json=body)
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(
                f"router admin API {method} {path} failed: {_one_line(str(exc) or repr(exc))}"
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            raise RouterError(
                f"router admin API {method} {path} answered {response.status_code}:"
                f" {_one_line(str(error or response.text))}"
            )
        return data

    @contextlib.contextmanager
    def _client(self, info: RouterInfo) -> Iterator[httpx.Client]:
        """An HTTP client connected to the router's admin socket."""
        import httpx  # here: `safeship status` of a stopped router needs no HTTP client

        with reachable_socket_path(info.admin_socket) as address:
            transport = httpx.HTTPTransport(uds=address)
            # trust_env=False: HTTP(S)_PROXY settings must never apply to the admin API.
            with httpx.Client(
                transport=transport, timeout=self.admin_timeout, trust_env=False
            ) as client:
                yield client

    def _health_pid(self, info: RouterInfo) -> int | None:
        """The pid the admin API reports, which also guards against a reused pid."""
        import httpx

        try:
            with self._client(info) as client:
                data = client.get(_admin_url("/admin/health")).json()
        except (httpx.HTTPError, ValueError, OSError):
            return None
        pid = data.get("pid") if isinstance(data, dict) else None
        return pid if isinstance(pid, int) and data.get("status") == "ok" else None

    # -- files and processes --------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "safeship.routing.proxy",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--environment",
            self.environment,
            "--upstream-timeout",
            str(self.upstream_timeout),
            "--grace",
            str(self.grace),
            "--sticky",
            self.settings.sticky,
            "--sticky-name",
            self.settings.sticky_name,
            "--header-timeout",
            str(self.settings.header_timeout),
            "--idle-timeout",
            str(self.settings.idle_timeout),
            *(
                ()
                if self.settings.metrics_port is None
                else ("--metrics-port", str(self.settings.metrics_port))
            ),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            # Created 0600 first: spawn_detached appends to it, keeping the mode.
            os.close(_files.open_private_fd(self.log_path))
            # Detached: the terminal's SIGINT/SIGHUP do not reach the router. cwd=state_dir:
            # do not pin the caller's working directory, nor import from it.
            return _processes.spawn_detached(
                cmd, env=env, cwd=self.state_dir, log_path=self.log_path
            )
        except OSError as exc:
            raise RouterError(f"cannot start the router: {exc}") from exc

    def _exit_reason(self, code: int) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return last or f"the {self.environment} router exited with code {code}"

    def _read_info(self) -> RouterInfo | None:
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8"))
            return RouterInfo(
                pid=int(data["pid"]),
                port=int(data["port"]),
                # A router from before the admin socket has none: it will not answer there.
                admin_socket=Path(
                    str(data.get("admin_socket") or admin_socket_path(self.state_dir))
                ),
                started_at=float(data["started_at"]),
                start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _live_info(self) -> RouterInfo | None:
        """router.json if its process is alive; a stale file (dead or reused pid) is removed."""
        info = self._read_info()
        if info is None:
            return None
        if not _alive(info):
            self._remove_info_if(info.pid)
            return None
        return info

    def _remove_info_if(self, pid: int) -> None:
        info = self._read_info()
        if info is not None and info.pid == pid:
            with contextlib.suppress(FileNotFoundError):
                self.info_path.unlink()


def _admin_url(path: str) -> str:
    # The host is a placeholder: the request goes over the admin socket.
    return f"http://router{path}"


def _port_free(port: int) -> bool:
    # SO_REUSEADDR like the proxy's own listener, so a port in TIME_WAIT does not count as used.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise RouterError(f"cannot check port {port}: {exc}") from exc
    return True


def _alive(info: RouterInfo) -> bool:
    """Whether the router router.json names still runs: its pid is alive (a zombie is not) and
    started at the recorded time. A dead child of ours is reaped.

    Unlike a release, a router is signalled by pid alone, never as a group, and only while it is
    alive: nothing needs its pid kept from reuse once it is dead.
    """
    if not _processes.is_running(info.pid, info.start_ticks):
        _processes.reap(info.pid)  # only if it is our child, which has then exited
        return False
    # is_running trusts an unreaped child of ours without its start time, but the pid may have
    # been given to that child (a release, a new router) after the router in the file died.
    return info.start_ticks is None or _processes.start_ticks(info.pid) == info.start_ticks


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]

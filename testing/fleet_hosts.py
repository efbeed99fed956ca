"""Pytest plugin: fake hosts for the ssh target, each a real OpenSSH server.

``make_fake_hosts(count, directory)`` (a context manager) and the module-scoped fixture
``fleet_hosts`` (three hosts) give a ``FakeHosts``: one network namespace per host, joined to
this one by a veth pair (the host at ``10.A.B.4i+2``, its side ``.4i+1``, a /30 each), with one
``/usr/sbin/sshd`` listening in it (/work/shared/TESTING.md part 2 §3 (a)). Names and the /24
are unique per fixture instance (and so per xdist worker): the /24 is claimed by adding an
``unreachable`` route for it, which also keeps test traffic off the default route. Where
``ip netns`` is unavailable (or SAFESHIP_TEST_HOSTS=loopback), the hosts are sshd instances on
127.0.0.2, 127.0.0.3, ... sharing one port (§3 (b)).

Fake hosts share this machine's files, users and processes: only the network is theirs. So
``remote_dir`` must hold ``{host}`` (``target_settings`` puts it under the fixture's
directory), and teardown kills every process whose working directory is in there (the
releases) before the servers, the links, the namespaces and the route, in that order.

A client key (root logs in with it) and a known_hosts file with every host's key come with
it. ``link_down(host)`` / ``link_up(host)`` cut and restore a host's network (in loopback
mode: SIGSTOP / SIGCONT its sshd and sessions); ``new_host_key(host)`` restarts its sshd with
another key (a changed host key).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from safeship._processes import free_port
from safeship.targets.settings import SshTargetSettings

SSHD = "/usr/sbin/sshd"
_READY_TIMEOUT = 10.0
_instances = itertools.count()


@dataclass
class FakeHost:
    name: str
    address: str
    port: int
    host_key: Path
    namespace: str | None = None  # None: a loopback address of this machine's network
    veth: str | None = None
    process: subprocess.Popen[bytes] | None = None


@dataclass
class FakeHosts:
    directory: Path
    hosts: list[FakeHost]
    client_key: Path
    known_hosts: Path
    subnet: str | None = None  # the claimed /24 (netns mode)
    stopped: set[str] = field(default_factory=set)

    @property
    def namespaced(self) -> bool:
        return self.subnet is not None

    def host(self, name: str) -> FakeHost:
        return next(h for h in self.hosts if h.name == name)

    def remote_dir(self, host: str) -> Path:
        """Where the target's ``remote_dir`` (from ``target_settings``) puts ``host``'s files."""
        return self.directory / "remote" / host

    # -- faults ------------------------------------------------------------------------------

    def link_down(self, name: str) -> None:
        host = self.host(name)
        if host.namespace is not None:
            _ip("-n", host.namespace, "link", "set", "eth0", "down")
        else:
            self._signal_sshd(host, signal.SIGSTOP)
        self.stopped.add(name)

    def link_up(self, name: str) -> None:
        host = self.host(name)
        if host.namespace is not None:
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
        else:
            self._signal_sshd(host, signal.SIGCONT)
        self.stopped.discard(name)
        _wait_accepting(host)

    def _signal_sshd(self, host: FakeHost, sig: signal.Signals) -> None:
        assert host.process is not None
        leader = psutil.Process(host.process.pid)
        for proc in [leader, *leader.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def new_host_key(self, name: str) -> None:
        """Restart ``name``'s sshd with a new host key (known_hosts keeps the old one)."""
        host = self.host(name)
        _stop_sshd(host)
        host.host_key.unlink()
        host.host_key.with_suffix(".pub").unlink()
        _keygen(host.host_key, host.name)
        _start_sshd(self, host)

    # -- the target's settings ----------------------------------------------------------------

    def target_table(self, **overrides: Any) -> dict[str, Any]:
        """An ``[environments.X.target]`` table for these hosts (as a dict): root with the
        client key, the fixture's known_hosts, short timeouts, a remote_dir per host."""
        table: dict[str, Any] = {
            "type": "ssh",
            "hosts": [{"name": h.name, "address": h.address, "port": h.port} for h in self.hosts],
            "user": "root",
            "identity_files": [str(self.client_key)],
            "use_agent": False,
            "known_hosts": str(self.known_hosts),
            "connect_timeout": 1.0,
            "command_timeout": 10.0,
            "remote_dir": str(self.directory / "remote" / "{host}"),
            "python": "/usr/bin/python3",
            "start_timeout": 10.0,
            "stop_timeout": 2.0,
        }
        table.update(overrides)
        return table

    def target_settings(self, **overrides: Any) -> SshTargetSettings:
        return SshTargetSettings.model_validate(self.target_table(**overrides))

    def target_toml(self, environment: str, **overrides: Any) -> str:
        """The table as safeship.toml text (``[environments.ENV.target]`` and its hosts)."""
        import json

        table = self.target_table(**overrides)
        hosts = table.pop("hosts")
        lines = [f"[environments.{environment}.target]"]
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
        for host in hosts:
            lines.append(f"\n[[environments.{environment}.target.hosts]]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in host.items())
        return "\n".join(lines) + "\n"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=10,
    )


def _netns_available() -> bool:
    if os.environ.get("SAFESHIP_TEST_HOSTS") == "loopback" or shutil.which("ip") is None:
        return False
    probe = f"ssp{os.getpid() % 100000}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", probe)
    return True


def _claim_subnet(seed: int) -> str:
    """A free 10.A.B.0/24, claimed by an unreachable route (fails if another holds it)."""
    for attempt in range(200):
        value = (seed + attempt * 7919) % (56 * 256)
        subnet = f"10.{200 + value // 256}.{value % 256}"
        try:
            _ip("route", "add", "unreachable", f"{subnet}.0/24")
        except subprocess.CalledProcessError:
            continue
        return subnet
    raise RuntimeError("no free 10.200-255.x.0/24 for the fake hosts")


def _start_sshd(hosts: FakeHosts, host: FakeHost) -> None:
    argv = [
        SSHD,
        "-D",
        "-e",
        "-f",
        "/dev/null",
        "-o",
        f"ListenAddress={host.address}:{host.port}",
        "-o",
        f"HostKey={host.host_key}",
        "-o",
        f"PidFile={hosts.directory}/{host.name}.pid",
        "-o",
        f"AuthorizedKeysFile={hosts.directory}/authorized_keys",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        "-o",
        "UsePAM=no",
        "-o",
        "StrictModes=no",
        "-o",
        "Subsystem=sftp internal-sftp",
        "-o",
        "MaxStartups=100",
        "-o",
        "MaxSessions=100",
    ]
    # A host's user has a plain shell profile. This machine's root may not: sshd runs every
    # command through the user's shell, and bash then reads ~/.bashrc (a pyenv init there costs
    # ~100 processes per command). In its own mount namespace the host sees an empty one.
    bashrc = Path("~root").expanduser() / ".bashrc"
    if bashrc.is_file() and shutil.which("unshare"):
        plain = hosts.directory / "bashrc"
        plain.write_text("# a fake host's plain profile (testing/fleet_hosts.py)\n")
        mount = 'mount --bind "$0" "$1" 2>/dev/null; shift; exec "$@"'
        argv = [
            *("unshare", "--mount", "--propagation", "private", "sh", "-c", mount),
            *(str(plain), str(bashrc), *argv),
        ]
    if host.namespace is not None:
        argv = ["ip", "netns", "exec", host.namespace, *argv]
    with (hosts.directory / f"{host.name}.log").open("ab") as log:
        host.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    _wait_accepting(host)


def _wait_accepting(host: FakeHost) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        assert host.process is not None
        if host.process.poll() is not None:
            raise RuntimeError(f"sshd of {host.name} exited with {host.process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host.address, host.port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd of {host.name} not accepting on {host.address}")
        time.sleep(0.02)


def _stop_sshd(host: FakeHost) -> None:
    if host.process is None or host.process.poll() is not None:
        return
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(host.process.pid).children(recursive=True):
            child.send_signal(signal.SIGCONT)
    host.process.send_signal(signal.SIGCONT)
    host.process.terminate()
    try:
        host.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        host.process.kill()
        host.process.wait(timeout=5)


def _kill_releases(directory: Path) -> None:
    """Kill every process working in ``directory`` (the releases the tests left running)."""
    root = str(directory.resolve())
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            cwd = proc.cwd()
            if cwd == root or cwd.startswith(root + os.sep):
                if os.getpgid(proc.pid) == proc.pid:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.kill()


@contextlib.contextmanager
def make_fake_hosts(count: int, directory: Path | None = None) -> Iterator[FakeHosts]:
    """``count`` fake hosts (``h1``, ``h2``, ...), torn down at the end (see module docstring)."""
    instance = next(_instances)
    made_directory = directory is None
    directory = Path(tempfile.mkdtemp(prefix="safeship-hosts-")) if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    client_key = directory / "client_key"
    _keygen(client_key, "safeship-test-client")
    shutil.copy(client_key.with_suffix(".pub"), directory / "authorized_keys")
    known_hosts = directory / "known_hosts"
    namespaced = _netns_available()
    tag = f"{zlib.crc32(f'{os.getpid()}-{instance}'.encode()) % 0xFFFFF:05x}"
    hosts = FakeHosts(directory, [], client_key, known_hosts)
    try:
        if namespaced:
            hosts.subnet = _claim_subnet(zlib.crc32(tag.encode()))
        port = 22 if namespaced else free_port()
        lines = []
        for i in range(1, count + 1):
            name = f"h{i}"
            if namespaced:
                address = f"{hosts.subnet}.{4 * i - 2}"
                host = FakeHost(name, address, port, directory / f"{name}_host")
                host.namespace, host.veth = f"ssh-{tag}-{i}", f"vs{tag}h{i}"
            else:
                host = FakeHost(name, f"127.0.0.{i + 1}", port, directory / f"{name}_host")
            hosts.hosts.append(host)
            if host.namespace is not None and host.veth is not None:
                gateway = f"{hosts.subnet}.{4 * i - 3}"
                _ip("netns", "add", host.namespace)
                _ip(
                    "link",
                    "add",
                    host.veth,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    host.namespace,
                )
                _ip("addr", "add", f"{gateway}/30", "dev", host.veth)
                _ip("link", "set", host.veth, "up")
                _ip("-n", host.namespace, "addr", "add", f"{address}/30", "dev", "eth0")
                _ip("-n", host.namespace, "link", "set", "eth0", "up")
                _ip("-n", host.namespace, "link", "set", "lo", "up")
            _keygen(host.host_key, name)
            public = " ".join(host.host_key.with_suffix(".pub").read_text().split()[:2])
            pattern = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
            lines.append(f"{pattern} {public}")
        known_hosts.write_text("\n".join(lines) + "\n")
        known_hosts.chmod(0o600)
        for host in hosts.hosts:
            _start_sshd(hosts, host)
        yield hosts
    finally:
        _teardown(hosts)
        if made_directory:
            shutil.rmtree(directory, ignore_errors=True)


def _teardown(hosts: FakeHosts) -> None:
    for host in hosts.hosts:
        if host.namespace is not None:
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                pids = subprocess.run(
                    ["ip", "netns", "pids", host.namespace], capture_output=True, timeout=10
                ).stdout.split()
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGCONT)
    _kill_releases(hosts.directory)
    for host in hosts.hosts:
        _stop_sshd(host)
    for host in hosts.hosts:
        if host.namespace is not None:
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                for pid in subprocess.run(
                    ["ip", "netns", "pids", host.namespace], capture_output=True, timeout=10
                ).stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", str(host.veth))
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", host.namespace)
    if hosts.subnet is not None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("route", "del", "unreachable", f"{hosts.subnet}.0/24")


@pytest.fixture(scope="module")
def fleet_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHosts]:
    """Three fake hosts for a test module (h1, h2, h3)."""
    with make_fake_hosts(3, tmp_path_factory.mktemp("hosts")) as hosts:
        yield hosts

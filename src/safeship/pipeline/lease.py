"""One deploy per environment: hold the environment's registry lease for the length of a command.

``DeployLease`` takes the lease (``Registry.acquire_lease``), renews it from a heartbeat thread
every ``heartbeat`` seconds so it never expires while its holder lives, and releases it at the
end. When its holder dies the heartbeats stop and the lease expires ``ttl`` seconds later; the
next command takes it over (``taken_over``) and runs recovery. A holder on this very host whose
process is gone is known dead at once, so its lease is taken over without waiting for expiry.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import sys
import threading
from types import TracebackType
from typing import TextIO

from safeship import _processes
from safeship.redaction import redact
from safeship.registry import EnvironmentBusy, Lease, LeaseLost, Registry, RegistryError

DEFAULT_TTL = 10.0
DEFAULT_HEARTBEAT = 2.0

_HOLDER = re.compile(r"@(?P<host>[^\s@]+) pid (?P<pid>\d+)$")


def operator() -> str:
    """Who runs this process: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER/LOGNAME (some containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def this_holder() -> str:
    """Who holds a lease taken by this process: ``user@host pid N``."""
    return f"{operator()} pid {os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` is a process of this host that no longer runs.

    A holder on another host, or one whose pid is alive (even if reused), is not known dead:
    its lease is left to expire.
    """
    match = _HOLDER.search(holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    pid = int(match["pid"])
    return pid != os.getpid() and not _processes.is_running(pid)


class DeployLease:
    """``with DeployLease(registry, "production") as lease:`` runs one command under the lease.

    Raises ``EnvironmentBusy`` on entry when another holder's lease is live.
    """

    def __init__(
        self,
        registry: Registry,
        environment: str,
        *,
        holder: str | None = None,
        ttl: float = DEFAULT_TTL,
        heartbeat: float = DEFAULT_HEARTBEAT,
        errors: TextIO | None = None,
    ) -> None:
        if not 0 < heartbeat < ttl:
            raise ValueError(f"heartbeat ({heartbeat} s) must be shorter than the ttl ({ttl} s)")
        self.registry = registry
        self.environment = environment
        self.holder = holder or this_holder()
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.lease: Lease | None = None
        # Set when another holder took the lease over (we were stalled longer than the ttl).
        self.lost = threading.Event()
        self._errors = errors
        self._deployment_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def taken_over(self) -> Lease | None:
        """The dead holder's lease this one replaced, or None when the environment was free."""
        return self.lease.previous if self.lease else None

    def acquire(self) -> Lease:
        try:
            lease = self.registry.acquire_lease(self.environment, self.holder, self.ttl)
        except EnvironmentBusy as busy:
            if not holder_is_dead(busy.lease.holder):
                raise
            lease = self.registry.acquire_lease(
                self.environment, self.holder, self.ttl, replace=busy.lease.token
            )
        self.lease = lease
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-heartbeat-{self.environment}", daemon=True
        )
        self._thread.start()
        return lease

    def attach(self, deployment_id: str) -> None:
        """Record the deployment the lease covers (shown to whoever finds it busy)."""
        self._deployment_id = deployment_id
        self._renew()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.lease is not None and not self.lost.is_set():
            try:
                self.registry.release_lease(self.environment, self.lease.token)
            except RegistryError as exc:
                # The lease then expires on its own after the ttl.
                self._warn(f"could not release the lease on {self.environment}: {exc}")

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            if not self._renew():
                return

    def _renew(self) -> bool:
        """One heartbeat; False once the lease is lost for good."""
        if self.lease is None or self.lost.is_set():
            return False
        try:
            self.lease = self.registry.renew_lease(
                self.environment, self.lease.token, self.ttl, deployment_id=self._deployment_id
            )
        except LeaseLost as exc:
            self.lost.set()
            self._warn(str(exc))
            return False
        except RegistryError as exc:
            # A registry blip: the next heartbeat tries again before the ttl runs out.
            self._warn(f"lease heartbeat failed: {exc}")
        return True

    def _warn(self, message: str) -> None:
        print(redact(f"safeship: warning: {message}"), file=self._errors or sys.stderr)

    def __enter__(self) -> DeployLease:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

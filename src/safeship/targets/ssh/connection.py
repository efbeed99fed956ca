"""SSH to a fleet's hosts with asyncssh, behind a synchronous API.

One asyncio loop runs in a daemon thread per ``Fleet`` object; the target's synchronous calls
submit coroutines to it (``run_coroutine_threadsafe``), so a host's connection is opened once
and reused by every later call. Every host of one call is handled at once (``asyncio.gather``).

Decisions:

- Host keys are checked against the settings' known_hosts file only (a missing file: no host
  is known). An unknown or changed key is refused with one line saying how to trust it; keys
  are recorded only by ``scan_key`` + ``record_key`` (``safeship hosts trust``).
- Errors are one line naming the host, never a traceback. A host that does not answer (connect
  timeout, refused or lost connection, a command past its timeout) raises HostUnreachable; one
  that answers but refuses us (host key, authentication) raises TargetError.
- A broken connection is dropped; the next call connects again. Nothing is retried within a
  call: a command that may have run on the host is never sent twice.
- Keepalives every ``connect_timeout`` seconds (two unanswered: the connection is dropped), so a
  host whose link went down fails an open connection's command within about three
  connect timeouts, instead of hanging until the command's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from safeship._files import private_dir, write_private
from safeship.targets.base import HostUnreachable, TargetError

T = TypeVar("T")


@dataclass(frozen=True)
class Host:
    """One host as the connection needs it."""

    name: str
    address: str
    port: int
    user: str

    @property
    def where(self) -> str:
        return f"{self.name} ({self.address}:{self.port})"

    @property
    def known_hosts_pattern(self) -> str:
        """How known_hosts names this host: the address, ``[address]:port`` off port 22."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class Completed:
    """A command's outcome on a host."""

    exit_status: int
    stdout: str
    stderr: str


class Fleet:
    """SSH connections to some hosts, reused across calls, from synchronous code."""

    def __init__(
        self,
        *,
        identity_files: Sequence[Path],
        use_agent: bool,
        known_hosts: Path,
        connect_timeout: float,
        trust_hint: str,
    ) -> None:
        self.identity_files = list(identity_files)
        self.use_agent = use_agent
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.trust_hint = trust_hint  # the command that trusts this fleet's keys
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        # Per host: a long-running command answering a JSON line per request (``ask``).
        self._sessions: dict[str, asyncssh.SSHClientProcess[str]] = {}
        self._asking: dict[str, asyncio.Lock] = {}
        self._agent: asyncssh.SSHAgentClient | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="safeship-ssh", daemon=True
        )
        self._thread.start()

    # -- from synchronous code ----------------------------------------------------------------

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on this fleet's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def each(
        self, hosts: Sequence[Host], action: Callable[[Host], Awaitable[T]]
    ) -> list[T | TargetError]:
        """``action(host)`` for every host at once; per host its result or its TargetError."""

        async def one(host: Host) -> T | TargetError:
            try:
                return await action(host)
            except TargetError as exc:
                return exc
            except (KeyError, TypeError, ValueError) as exc:  # an agent of another version
                what = f"{type(exc).__name__}: {exc}"
                return TargetError(f"{host.name}: unexpected answer from the host agent ({what})")

        async def every() -> list[T | TargetError]:
            return list(await asyncio.gather(*(one(h) for h in hosts)))

        return self.call(every())

    def close(self) -> None:
        """Close every connection and stop the loop (the object is unusable after)."""
        if self._loop.is_closed():
            return

        async def close_all() -> None:
            for session in list(self._sessions.values()):
                session.close()
            self._sessions.clear()
            for connection in list(self._connections.values()):
                connection.close()
            self._connections.clear()
            if self._agent is not None:
                self._agent.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    # -- on the loop ---------------------------------------------------------------------------

    async def _client_keys(self) -> list[Any] | tuple[()]:
        keys: list[Any] = []
        for path in self.identity_files:
            try:
                keys.append(asyncssh.read_private_key(str(path)))
            except (OSError, asyncssh.KeyImportError) as exc:
                raise TargetError(f"{path}: cannot read the private key: {exc}") from None
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            with contextlib.suppress(OSError, asyncssh.Error):
                if self._agent is None:
                    self._agent = await asyncssh.connect_agent()
                keys.extend(await self._agent.get_keys())
        if not keys and not self.identity_files:
            return ()  # no file named and no agent key: the user's ~/.ssh/id_* keys
        return keys

    def _known_hosts(self) -> asyncssh.SSHKnownHosts:
        try:
            text = self.known_hosts.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""  # no file: no host is known
        except OSError as exc:
            raise TargetError(f"{self.known_hosts}: unreadable: {exc.strerror}") from None
        try:
            return asyncssh.import_known_hosts(text)
        except (ValueError, asyncssh.Error) as exc:
            raise TargetError(f"{self.known_hosts}: not a known_hosts file: {exc}") from None

    def _recorded(self, host: Host) -> bool:
        """Whether known_hosts has any key for ``host`` (then a refused key is a changed one)."""
        try:
            lines = self.known_hosts.read_text(encoding="utf-8").splitlines()
        except OSError:
            return False
        pattern = host.known_hosts_pattern
        return any(pattern in line.split(" ", 1)[0].split(",") for line in lines if line.strip())

    async def connection(self, host: Host) -> asyncssh.SSHClientConnection:
        """The open connection to ``host``, connecting first when there is none."""
        lock = self._connecting.setdefault(host.name, asyncio.Lock())
        async with lock:
            connection = self._connections.get(host.name)
            if connection is not None and not connection.is_closed():
                return connection
            self._connections.pop(host.name, None)
            connection = await self._connect(host)
            self._connections[host.name] = connection
            return connection

    async def _connect(self, host: Host) -> asyncssh.SSHClientConnection:
        client_keys = await self._client_keys()
        known_hosts = self._known_hosts()
        try:
            return await asyncssh.connect(
                host.address,
                host.port,
                username=host.user,
                client_keys=client_keys,
                agent_path=None,
                known_hosts=known_hosts,
                config=None,
                connect_timeout=self.connect_timeout,
                login_timeout=self.connect_timeout,
                keepalive_interval=self.connect_timeout,
                keepalive_count_max=2,
            )
        except asyncssh.HostKeyNotVerifiable:
            if self._recorded(host):
                why = f"host key changed: {self.known_hosts} has another key for it"
            else:
                why = f"host key unknown: not in known_hosts {self.known_hosts}"
            raise TargetError(f"{host.where}: {why}; check it, then `{self.trust_hint}`") from None
        except asyncssh.PermissionDenied:
            raise TargetError(
                f"{host.name}: SSH authentication failed for user {host.user}"
            ) from None
        except TimeoutError:
            raise HostUnreachable(
                host.name, f"{host.where}: no answer within {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise HostUnreachable(
                host.name, f"{host.where}: cannot connect: {exc.strerror or exc}"
            ) from None
        except asyncssh.Error as exc:
            raise HostUnreachable(
                host.name, f"{host.where}: SSH connection failed: {exc.reason}"
            ) from None

    def _lost(self, host: Host, connection: asyncssh.SSHClientConnection) -> None:
        if self._connections.get(host.name) is connection:
            del self._connections[host.name]
        self.end_session(host)
        connection.abort()

    def end_session(self, host: Host) -> None:
        """Close ``host``'s ``ask`` session (its command exits at the end of its input); the
        next ``ask`` starts another."""
        session = self._sessions.pop(host.name, None)
        if session is not None:
            session.close()

    async def ask(self, host: Host, argv: Sequence[str], line: str, *, timeout: float) -> Completed:
        """Send ``line`` to ``host``'s session, a long-running ``argv`` reading one request a
        line and answering one a line (started at the first ask, reused after); its answer.
        A command that ended answers with its exit status and what it said on stderr."""
        lock = self._asking.setdefault(host.name, asyncio.Lock())
        async with lock:
            connection = await self.connection(host)
            session = await self._session(host, connection, argv, timeout)
            try:
                session.stdin.write(line + "\n")
                answer = await asyncio.wait_for(session.stdout.readline(), timeout)
            except TimeoutError:
                self._lost(host, connection)
                raise HostUnreachable(
                    host.name, f"{host.where}: no answer within {timeout:g}s ({argv[-1]})"
                ) from None
            except (OSError, asyncssh.Error) as exc:
                if connection.is_closed():
                    self._lost(host, connection)
                    raise HostUnreachable(
                        host.name, f"{host.where}: connection lost: {_reason(exc)}"
                    ) from None
                # The channel closed, not the connection: the command ended before it read
                # the request (an agent that is not there exits at once). Said below.
                answer = ""
            if answer:
                return Completed(0, answer, "")
            # The command ended: its exit status and last words, or the connection is gone.
            self.end_session(host)
            if connection.is_closed():
                self._lost(host, connection)
                raise HostUnreachable(host.name, f"{host.where}: connection lost")
            said = ""
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                said = await asyncio.wait_for(session.stderr.read(), 1.0)
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(session.wait_closed(), 1.0)  # its exit status
            status = session.exit_status
            return Completed(-1 if status is None else status, "", _text(said))

    async def _session(
        self,
        host: Host,
        connection: asyncssh.SSHClientConnection,
        argv: Sequence[str],
        timeout: float,
    ) -> asyncssh.SSHClientProcess[str]:
        """``host``'s open session on ``connection``, started when there is none."""
        session = self._sessions.get(host.name)
        if (
            session is not None
            and not session.is_closing()
            and session.channel.get_extra_info("connection") is connection
        ):
            return session
        self.end_session(host)
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            started = await asyncio.wait_for(
                connection.create_process(command, encoding="utf-8"), timeout
            )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            self._lost(host, connection)
            raise HostUnreachable(
                host.name, f"{host.where}: connection lost: {_reason(exc)}"
            ) from None
        self._sessions[host.name] = started
        return started

    async def run(
        self, host: Host, argv: Sequence[str], *, stdin: str = "", timeout: float
    ) -> Completed:
        """Run ``argv`` (quoted for the host's shell) with ``stdin``; within ``timeout``."""
        connection = await self.connection(host)
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            done = await connection.run(command, input=stdin, check=False, timeout=timeout)
        except asyncssh.TimeoutError:
            self._lost(host, connection)
            raise HostUnreachable(
                host.name, f"{host.where}: no answer within {timeout:g}s ({argv[-1]})"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            self._lost(host, connection)
            raise HostUnreachable(
                host.name, f"{host.where}: connection lost: {_reason(exc)}"
            ) from None
        status = done.exit_status if done.exit_status is not None else -1
        return Completed(status, _text(done.stdout), _text(done.stderr))

    async def put(self, host: Host, local: Path, remote: str, *, timeout: float) -> None:
        """Copy ``local`` to ``remote`` on the host over SFTP (a 0600 file)."""
        connection = await self.connection(host)
        try:
            async with asyncio.timeout(timeout), connection.start_sftp_client() as sftp:
                await sftp.put(str(local), remote)
                await sftp.chmod(remote, 0o600)
        except TimeoutError:
            self._lost(host, connection)
            raise HostUnreachable(
                host.name, f"{host.where}: copying {local.name} took over {timeout:g}s"
            ) from None
        except asyncssh.SFTPError as exc:
            raise TargetError(f"{host.name}: cannot write {remote}: {exc.reason}") from None
        except (OSError, asyncssh.Error) as exc:
            self._lost(host, connection)
            raise HostUnreachable(
                host.name, f"{host.where}: connection lost: {_reason(exc)}"
            ) from None

    async def scan_key(self, host: Host) -> asyncssh.SSHKey:
        """The key ``host`` presents (unverified: for ``trust`` to show and record)."""
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(host.address, host.port, config=None),
                self.connect_timeout,
            )
        except TimeoutError:
            raise HostUnreachable(
                host.name, f"{host.where}: no answer within {self.connect_timeout:g}s"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise HostUnreachable(
                host.name, f"{host.where}: cannot connect: {_reason(exc)}"
            ) from None
        if key is None:
            raise HostUnreachable(host.name, f"{host.where}: presented no host key")
        return key


def _reason(exc: BaseException) -> str:
    """What went wrong, in a few words (asyncssh's reason, the OS's error, or its kind)."""
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return str(reason or exc or type(exc).__name__)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def record_key(known_hosts: Path, host: Host, key: asyncssh.SSHKey) -> bool:
    """Make ``key`` the one known_hosts accepts for ``host`` (a 0600 file; other hosts' lines
    kept, this host's other keys replaced); whether the file changed."""
    line = f"{host.known_hosts_pattern} {key.export_public_key('openssh').decode().strip()}"
    try:
        lines = known_hosts.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    pattern = host.known_hosts_pattern
    if line in lines:
        return False
    kept = [ln for ln in lines if pattern not in ln.split(" ", 1)[0].split(",")]
    private_dir(known_hosts.parent)
    write_private(known_hosts, "\n".join([*kept, line]) + "\n")
    return True

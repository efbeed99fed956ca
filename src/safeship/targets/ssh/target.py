"""The ssh target: each release runs on a fleet of hosts, one instance per host.

Every host runs safeship's host agent (``agent.py`` beside this module, uploaded by
``setup``), which starts, lists and stops releases there the way the local target does here:
detached process groups, pid files with start ticks, logs, the environment in a 0600 file.
This module asks the agents over SSH (``connection.Fleet``: connections reused, every host at
once) and puts their answers together as ``FleetRelease``s.

Decisions:

- A release's variables (the config's ``env`` and the variables file, secrets among them)
  reach a host only on the agent's stdin over the SSH channel, never on a command line.
- The build artifact is checksummed here (SHA-256); the agent stores it under its checksum and
  refuses a file that does not match, so a tampered or truncated copy never runs. It is
  uploaded once per host and content; a version is installed once per host.
- ``is_alive`` is False when a host that answers reports its instance dead: a crash on one host
  makes the whole release dead, and the pipeline rolls back every host. A host that does not
  answer is not judged here (it raises nothing and counts as alive): the rollout's host watch
  (``host_states``, ``drop``) takes it out of traffic and weighs it against max_unavailable.
- A start that fails on one host stops the instances the same call started on the others, then
  raises naming the host. Nothing is retried: a start may have taken effect on a host that
  timed out (``reap`` and ``releases`` find it).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from safeship._files import private_dir
from safeship.targets.base import (
    FleetRelease,
    HostCapacity,
    HostState,
    HostUnreachable,
    Instance,
    Release,
    RolloutPlan,
    TargetDefaults,
    TargetError,
)
from safeship.targets.settings import SshTargetSettings, hosts_of
from safeship.targets.variables import store_variable, stored_variables
from safeship.validation import VERSION_PATTERN

if TYPE_CHECKING:
    from safeship.targets.ssh.connection import Fleet, Host

T = TypeVar("T")

AGENT_SOURCE = Path(__file__).with_name("agent.py")
_VERSION_RE = re.compile(VERSION_PATTERN)
_MIN_PYTHON = (3, 8)
_ARTIFACT_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".whl")
# The agent's commands that only look: asked in the host's agent session (Fleet.ask).
_QUERIES = frozenset({"alive", "info", "list"})
# Seconds a stop may take on a host beyond stop_timeout (SIGKILL and the wait for it).
_KILL_WAIT = 5.0


@dataclass(frozen=True)
class _Artifact:
    local: Path
    sha256: str
    suffix: str

    @property
    def stored_name(self) -> str:
        """Its name on the hosts: its checksum (the agent verifies the content against it)."""
        return self.sha256 + self.suffix


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SshTarget(TargetDefaults):
    """Runs each release of ``environment`` on the hosts of its ``[target]`` table."""

    routes_itself: ClassVar[bool] = False

    def __init__(
        self,
        environment: str,
        settings: SshTargetSettings,
        run_dir: Path,
        base_dir: Path,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.run_dir = run_dir
        self.base_dir = base_dir
        private_dir(run_dir)
        default_user = settings.user or getpass.getuser()
        self._hosts = {
            h.name: (h.name, h.address, h.port, h.user or default_user)
            for h in settings.selected_hosts()
        }
        self._fleet: Fleet | None = None
        # (host, version, artifact checksum or commit) installed by this object: not asked again.
        self._installed: set[tuple[str, str, str]] = set()

    # -- connections ---------------------------------------------------------------------------

    @property
    def known_hosts(self) -> Path:
        return self.base_dir / self.settings.known_hosts

    @property
    def fleet(self) -> Fleet:
        """The SSH connections (asyncssh is imported on first use, not by the config)."""
        if self._fleet is None:
            from safeship.targets.ssh.connection import Fleet

            self._fleet = Fleet(
                identity_files=[self.base_dir / f for f in self.settings.identity_files],
                use_agent=self.settings.use_agent,
                known_hosts=self.known_hosts,
                connect_timeout=self.settings.connect_timeout,
                trust_hint=f"safeship hosts trust {self.environment}",
            )
        return self._fleet

    def close(self) -> None:
        """Close the SSH connections (releases keep running on the hosts)."""
        if self._fleet is not None:
            self._fleet.close()
            self._fleet = None

    def _host(self, name: str) -> Host:
        from safeship.targets.ssh.connection import Host

        try:
            return Host(*self._hosts[name])
        except KeyError:
            raise TargetError(
                f"unknown host {name!r} (environments.{self.environment}.target.hosts)"
            ) from None

    def _each(
        self, names: Sequence[str], action: Callable[[Host], Awaitable[T]]
    ) -> list[tuple[str, T | TargetError]]:
        hosts = [self._host(n) for n in names]
        return list(zip(names, self.fleet.each(hosts, action), strict=True))

    def remote_dir(self, host: str) -> str:
        """Where the host keeps this environment's agent, releases and logs."""
        template = self.settings.remote_dir
        return template.replace("{host}", host).replace("{environment}", self.environment)

    async def _agent(
        self, host: Host, command: str, request: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Ask the host's agent; its answer, or TargetError naming the host. The quick
        queries go to the host's agent session (no Python start per query); a command that
        changes something runs on its own, so a long start never holds up a query."""
        agent = f"{self.remote_dir(host.name)}/agent.py"
        python = [self.settings.python, "-I", "-S", agent]
        limit = self.settings.command_timeout if timeout is None else timeout
        if command in _QUERIES:
            line = json.dumps({"command": command, "request": request})
            done = await self.fleet.ask(host, [*python, "serve"], line, timeout=limit)
        else:
            done = await self.fleet.run(
                host, [*python, command], stdin=json.dumps(request), timeout=limit
            )
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = None
        if not isinstance(answer, dict):
            said = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise TargetError(
                f"{host.name}: the host agent did not answer (exit {done.exit_status}: {said}); "
                f"run `safeship hosts setup {self.environment}`"
            )
        if not answer.get("ok"):
            raise TargetError(f"{host.name}: {answer.get('error', 'the host agent failed')}")
        return answer

    # -- artifacts -----------------------------------------------------------------------------

    def _artifact(self, version: str) -> _Artifact | None:
        artifact = self.settings.artifact
        if artifact is None or artifact.path is None:
            return None
        local = self.base_dir / artifact.path.replace("{version}", version)
        suffix = next((s for s in _ARTIFACT_SUFFIXES if local.name.endswith(s)), None)
        where = f"environments.{self.environment}.target.artifact.path"
        if suffix is None:
            raise TargetError(f"{local.name}: not a .tar.gz, .tgz, .tar or .whl ({where})")
        try:
            return _Artifact(local, _sha256(local), suffix)
        except OSError as exc:
            raise TargetError(f"artifact {local}: {exc.strerror} ({where})") from None

    async def _install(
        self, host: Host, version: str, artifact: _Artifact | None, commit: str | None
    ) -> None:
        settings = self.settings.artifact
        if settings is None:
            return
        if settings.git is not None:
            if not commit:
                raise TargetError(
                    f"the git artifact of {self.environment} needs the commit to deploy"
                )
            key = (host.name, version, commit)
            request: dict[str, Any] = {"version": version, "git": settings.git, "commit": commit}
        else:
            assert artifact is not None
            key = (host.name, version, artifact.sha256)
            request = {
                "version": version,
                "file": artifact.stored_name,
                "name": artifact.local.name,
                "sha256": artifact.sha256,
            }
        if key in self._installed:
            return
        answer = await self._agent(host, "install", request)
        if answer.get("need_upload") and artifact is not None:
            directory = f"{self.remote_dir(host.name)}/artifacts"
            await self.fleet.run(
                host, ["mkdir", "-p", "-m", "700", directory], timeout=self.settings.command_timeout
            )
            remote = f"{directory}/{artifact.stored_name}"
            await self.fleet.put(
                host, artifact.local, remote, timeout=self.settings.command_timeout
            )
            answer = await self._agent(host, "install", request)
            if answer.get("need_upload"):
                raise TargetError(f"{host.name}: the artifact did not arrive")
        self._installed.add(key)

    # -- starting ------------------------------------------------------------------------------

    def _check_version(self, version: str) -> None:
        if not _VERSION_RE.fullmatch(version):
            raise TargetError(f"invalid version {version!r}: use letters, digits and . _ + -")

    def _start(
        self, version: str, hosts: Sequence[str], commit: str | None
    ) -> tuple[list[Instance], float]:
        """Start ``version`` on ``hosts`` at once; every instance, or none and TargetError."""
        self._check_version(version)
        hosts = list(dict.fromkeys(hosts))  # each host once
        if not hosts:
            raise TargetError(f"release {version}: no host to start it on")
        for name in hosts:
            self._host(name)
        artifact = self._artifact(version)
        argv = [a.replace("{version}", version) for a in self.settings.command]
        variables = self.variables()

        async def start(host: Host) -> tuple[Instance, float]:
            await self._install(host, version, artifact, commit)
            request = {
                "version": version,
                "argv": argv,
                "env": variables,
                "start_timeout": self.settings.start_timeout,
            }
            timeout = self.settings.command_timeout + self.settings.start_timeout
            answer = await self._agent(host, "start", request, timeout=timeout)
            instance = Instance(host.name, host.address, int(answer["port"]), int(answer["pid"]))
            return instance, float(answer["started_at"])

        outcomes = self._each(hosts, start)
        started = [r for _, r in outcomes if not isinstance(r, TargetError)]
        failures = [r for _, r in outcomes if isinstance(r, TargetError)]
        if failures:
            self._stop_instances(version, [i for i, _ in started])
            raise _combined(failures)
        return [i for i, _ in started], min((t for _, t in started), default=0.0)

    def deploy(self, version: str, commit: str | None = None) -> FleetRelease:
        """Start ``version`` on the rollout plan's first hosts (``deploy_on``)."""
        return self.deploy_on(version, self.rollout_plan().first, commit)

    def deploy_on(
        self, version: str, hosts: Sequence[str], commit: str | None = None
    ) -> FleetRelease:
        instances, started_at = self._start(version, hosts, commit)
        first = instances[0]
        return FleetRelease(
            self.environment, version, first.port, first.pid, started_at, tuple(instances)
        )

    def extend(self, release: FleetRelease, hosts: Sequence[str]) -> FleetRelease:
        more = [h for h in hosts if h not in release.hosts]
        if not more:
            return release
        commit = self._commit_of(release)
        instances, _ = self._start(release.version, more, commit)
        return release.joined(instances)

    def _commit_of(self, release: FleetRelease) -> str | None:
        """The commit a git artifact installed for ``release``: remembered, or asked of a host
        it runs on (another safeship process may have deployed it)."""
        if self.settings.artifact is None or self.settings.artifact.git is None:
            return None
        for _, version, installed in self._installed:
            if version == release.version:
                return installed

        async def listed(host: Host) -> list[dict[str, Any]]:
            return list((await self._agent(host, "list", {}))["releases"])

        for _, outcome in self._each(release.hosts, listed):
            if not isinstance(outcome, TargetError):
                for item in outcome:
                    if item["version"] == release.version and item.get("installed"):
                        return str(item["installed"])
        return None

    # -- running releases ----------------------------------------------------------------------

    def _instances_of(self, release: Release) -> list[Instance]:
        if isinstance(release, FleetRelease) and release.instances:
            return list(release.instances)
        for found in self.releases():
            if found.version == release.version and isinstance(found, FleetRelease):
                return list(found.instances)
        return []

    def is_alive(self, release: Release) -> bool:
        """False when a host that answers reports its instance dead; an unreachable host is
        not judged here (module docstring)."""
        instances = self._instances_of(release)
        if not instances:
            return False
        by_host = {i.host: i for i in instances}

        async def alive(host: Host) -> bool:
            instance = by_host[host.name]
            request = {"version": release.version, "pid": instance.pid}
            return bool((await self._agent(host, "alive", request))["alive"])

        return all(outcome is not False for _, outcome in self._each(list(by_host), alive))

    def _stop_instances(self, version: str, instances: Sequence[Instance]) -> list[TargetError]:
        by_host = {i.host: i for i in instances}
        timeout = self.settings.command_timeout + self.settings.stop_timeout + _KILL_WAIT

        async def stop(host: Host) -> None:
            instance = by_host[host.name]
            request = {
                "version": version,
                "pid": instance.pid,
                "stop_timeout": self.settings.stop_timeout,
            }
            await self._agent(host, "stop", request, timeout=timeout)

        return [r for _, r in self._each(list(by_host), stop) if isinstance(r, TargetError)]

    def stop(self, release: Release) -> None:
        """Stop every instance at once; hosts that failed are named after the others stopped."""
        failures = self._stop_instances(release.version, self._instances_of(release))
        if failures:
            raise _combined(failures)

    def releases(self) -> list[Release]:
        """The releases running on the hosts that answer, one per version with every host's
        instance (in the config's host order)."""

        async def listed(host: Host) -> list[dict[str, Any]]:
            answer = await self._agent(host, "list", {})
            return list(answer["releases"])

        by_version: dict[str, list[tuple[Instance, float]]] = {}
        for name, outcome in self._each(self.hosts(), listed):
            if isinstance(outcome, TargetError):
                continue
            host = self._host(name)
            for item in outcome:
                instance = Instance(name, host.address, int(item["port"]), int(item["pid"]))
                by_version.setdefault(str(item["version"]), []).append(
                    (instance, float(item["started_at"]))
                )
        found: list[Release] = []
        for version, pairs in by_version.items():
            instances = tuple(i for i, _ in pairs)
            started_at = min(t for _, t in pairs)
            found.append(
                FleetRelease(
                    self.environment,
                    version,
                    instances[0].port,
                    instances[0].pid,
                    started_at,
                    instances,
                )
            )
        return sorted(found, key=lambda r: r.started_at)

    def down(self) -> None:
        errors: list[str] = []
        for release in self.releases():
            try:
                self.stop(release)
            except TargetError as exc:
                errors.append(str(exc))
        if errors:
            raise TargetError("; ".join(errors))

    # -- variables -----------------------------------------------------------------------------

    @property
    def variables_file(self) -> Path:
        """Variables set through ``set_variable`` (secrets kept out of safeship.toml): a
        private JSON object in the target's run directory; they override the config's ``env``."""
        return self.run_dir / ".variables"

    def variables_table(self) -> tuple[str, ...] | None:
        return ("env",)

    def variables(self) -> dict[str, str]:
        return {**self.settings.env, **stored_variables(self.variables_file)}

    def set_variable(self, name: str, value: str) -> None:
        store_variable(self.variables_file, name, value)

    # -- recovery and capacity -----------------------------------------------------------------

    def reap(self) -> int:
        """Stop, on every host that answers, what a deploy that died before its pid file was
        written left running; how many were stopped. An unreachable host is skipped (the next
        reap finds what it left); another failure raises after the others were reaped."""

        async def reap(host: Host) -> int:
            return int((await self._agent(host, "reap", {}))["reaped"])

        total = 0
        failures: list[TargetError] = []
        for _, outcome in self._each(self.hosts(), reap):
            if isinstance(outcome, HostUnreachable):
                continue
            if isinstance(outcome, TargetError):
                failures.append(outcome)
            else:
                total += outcome
        if failures:
            raise _combined(failures)
        return total

    def capacity(self) -> HostCapacity | None:
        """The first host's room (the next deploy starts there); None when it does not answer."""
        name = self.rollout_plan().first[0]
        [(_, info)] = self._each([name], lambda host: self._agent(host, "info", {}))
        if isinstance(info, TargetError):
            return None
        return HostCapacity(
            host=name,
            memory_available_mb=float(info["memory_available_mb"]),
            disk_free_mb=float(info["disk_free_mb"]),
            disk_path=str(info["disk_path"]),
            resident_mb={str(k): float(v) for k, v in dict(info["resident_mb"]).items()},
        )

    # -- the fleet -----------------------------------------------------------------------------

    def hosts(self) -> list[str]:
        return list(self._hosts)

    def rollout_plan(self) -> RolloutPlan:
        names = self.hosts()
        total = len(names)
        batch = hosts_of(self.settings.batch_size, total, at_least_one=True)
        canary = self.settings.canary_hosts
        if isinstance(canary, list):
            first = [n for n in names if n in canary]
        elif canary is not None:
            first = names[: hosts_of(canary, total, at_least_one=True)]
        else:
            first = names[:batch]
        rest = [n for n in names if n not in first]
        batches = tuple(tuple(rest[i : i + batch]) for i in range(0, len(rest), batch))
        unavailable = hosts_of(self.settings.max_unavailable, total, at_least_one=False)
        return RolloutPlan(tuple(first), batches, unavailable)

    def host_states(self, release: FleetRelease | None = None) -> list[HostState]:
        """Each host's state now (every host at once, within the connect and command timeouts).
        With ``release``, its hosts first (the ones the rollout watches)."""
        names = self.hosts()
        if release is not None:
            names = [n for n in names if n in release.hosts] + [
                n for n in names if n not in release.hosts
            ]
        return [self._state(name, outcome) for name, outcome in self._each(names, self._info)]

    async def _info(self, host: Host) -> dict[str, Any]:
        return await self._agent(host, "info", {})

    def _state(self, name: str, outcome: dict[str, Any] | TargetError) -> HostState:
        address = self._hosts[name][1]
        if isinstance(outcome, HostUnreachable):
            return HostState(name, address, reachable=False, detail=str(outcome))
        if isinstance(outcome, TargetError):
            return HostState(name, address, reachable=True, detail=str(outcome))
        problems = self._problems(outcome)
        detail = f"agent {outcome['agent_version']}, Python {outcome['python']}"
        releases = {str(k): int(v) for k, v in dict(outcome["releases"]).items()}
        if releases:
            detail += ", running " + ", ".join(sorted(releases))
        if problems:
            detail += ": " + "; ".join(problems)
        return HostState(name, address, True, detail, ready=not problems, releases=releases)

    def _problems(self, info: dict[str, Any]) -> list[str]:
        problems = []
        if info.get("sha256") != _sha256(AGENT_SOURCE):
            problems.append(
                f"the host agent is outdated (run `safeship hosts setup {self.environment}`)"
            )
        python = tuple(int(p) for p in str(info["python"]).split(".")[:2])
        if python < _MIN_PYTHON:
            problems.append(f"Python {info['python']} is too old (3.8 or later)")
        if self.settings.artifact is not None and self.settings.artifact.git and not info["git"]:
            problems.append("git is not installed (the artifact is a git repository)")
        return problems

    def drop(self, release: FleetRelease, host: str) -> FleetRelease:
        """Stop ``host``'s instance if the host answers (best effort) and forget it."""
        instances = [i for i in release.instances if i.host == host]
        self._stop_instances(release.version, instances)
        return release.without(host)

    # -- hosts setup and trust -----------------------------------------------------------------

    def setup(self) -> list[HostState]:
        """Prepare every host (idempotent): the remote directory, the host agent (uploaded when
        its checksum differs), its Python checked, git when the artifact is a repository."""
        agent_sha = _sha256(AGENT_SOURCE)

        async def prepare(host: Host) -> dict[str, Any]:
            directory = self.remote_dir(host.name)
            timeout = self.settings.command_timeout
            made = await self.fleet.run(
                host, ["mkdir", "-p", "-m", "700", directory], timeout=timeout
            )
            if made.exit_status != 0:
                said = (made.stderr.strip().splitlines() or ["failed"])[-1][:300]
                raise TargetError(f"{host.name}: cannot make {directory}: {said}")
            try:
                info = await self._agent(host, "info", {})
            except HostUnreachable:
                raise
            except TargetError:
                info = {}
            if info.get("sha256") != agent_sha:
                await self.fleet.put(host, AGENT_SOURCE, f"{directory}/agent.py", timeout=timeout)
                self.fleet.end_session(host)  # it runs the agent that was there before
                info = await self._agent(host, "info", {})
            return info

        return [self._state(name, outcome) for name, outcome in self._each(self.hosts(), prepare)]

    def trust(self, hosts: Sequence[str] | None = None) -> list[tuple[str, str, bool]]:
        """Record the key each host presents now in known_hosts (replacing a changed one):
        (host, the key's SHA-256 fingerprint, whether it was newly added). Hosts that do not
        answer are named in a TargetError after the others were recorded."""
        from safeship.targets.ssh.connection import record_key

        names = list(hosts) if hosts is not None else self.hosts()
        trusted: list[tuple[str, str, bool]] = []
        failures: list[TargetError] = []
        for name, outcome in self._each(names, self.fleet.scan_key):
            if isinstance(outcome, TargetError):
                failures.append(outcome)
                continue
            added = record_key(self.known_hosts, self._host(name), outcome)
            trusted.append((name, outcome.get_fingerprint("sha256"), added))
        if failures:
            raise _combined(failures)
        return trusted


def _combined(failures: Sequence[TargetError]) -> TargetError:
    """One error for several hosts' failures: the first's kind and host, every message."""
    first = failures[0]
    if len(failures) == 1:
        return first
    message = "; ".join(str(f) for f in failures)
    if isinstance(first, HostUnreachable):
        return HostUnreachable(first.host, message)
    return TargetError(message)

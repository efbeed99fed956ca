"""The Target port: where a version runs as a release."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol, runtime_checkable


class TargetError(Exception):
    """A release could not be started or managed. The message is one line for the user."""


@dataclass(frozen=True)
class Release:
    """One running version of the service, reachable at ``url``."""

    environment: str
    version: str
    port: int
    pid: int | None
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> tuple[str, ...]:
        """Every address the release answers at: one, except a fleet release's (one per
        host). Health verification checks each one."""
        return (self.url,)


@dataclass(frozen=True)
class Instance:
    """One host's copy of a fleet release: the host's name in the config, the address the
    router reaches it at, its port and its process on that host."""

    host: str
    address: str
    port: int
    pid: int | None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class FleetRelease(Release):
    """A version running on several hosts (the ssh target): one instance per host, each with
    its own process. ``port`` and ``pid`` are the first instance's (for what reads one
    release's figures); ``url`` too. A release is on the hosts of ``instances`` only: a canary
    subset first, then every batch the rollout added."""

    instances: tuple[Instance, ...] = ()

    @property
    def url(self) -> str:
        return self.instances[0].url if self.instances else ""

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(i.url for i in self.instances)

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(i.host for i in self.instances)

    def without(self, host: str) -> FleetRelease:
        """The release with ``host``'s instance dropped (the host went out of traffic)."""
        kept = tuple(i for i in self.instances if i.host != host)
        return replace(self, instances=kept)

    def joined(self, more: Sequence[Instance]) -> FleetRelease:
        """The release with the instances of another batch of hosts added."""
        return replace(self, instances=self.instances + tuple(more))


@dataclass(frozen=True)
class HostState:
    """What a fleet target can tell about one host now (``safeship hosts check``)."""

    host: str
    address: str
    reachable: bool
    # One line: why it is unreachable, or the host agent's version and what it found.
    detail: str = ""
    ready: bool = False  # the host agent and the runtime are installed (`hosts setup` done)
    # version -> pid of the releases running on the host
    releases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RolloutPlan:
    """How a fleet target's hosts take a new release: ``first`` starts with the deploy (the
    canary hosts, or the first batch), then each of ``batches`` in turn before full traffic.
    ``max_unavailable``: hosts that may be lost mid-rollout (out of traffic) before the
    deploy rolls back."""

    first: tuple[str, ...]
    batches: tuple[tuple[str, ...], ...]
    max_unavailable: int


@dataclass(frozen=True)
class HostedRelease(Release):
    """A release a platform runs (no local port or pid), reached at its public URL."""

    public_url: str | None = None

    @property
    def url(self) -> str:
        return self.public_url or ""


@dataclass(frozen=True)
class HostCapacity:
    """Room on the host a target starts releases on, measured now (the capacity gate's
    figures): memory available to a new process, free disk where releases run, and what each
    running release holds in memory (resident, its processes together) by version."""

    host: str
    memory_available_mb: float
    disk_free_mb: float
    disk_path: str
    resident_mb: Mapping[str, float] = field(default_factory=dict)


class Target(Protocol):
    """Deploys versions as releases and manages their lifetime.

    Constructor contract (what the ``safeship.targets`` entry point names):
    ``cls(environment: str, settings, run_dir: Path, base_dir: Path)``: ``settings`` is the
    environment's ``[target]`` table (a third party's arrives as ``PluginSettings``, its keys
    in ``model_extra``), ``run_dir`` a private directory for the target's state (pid files),
    ``base_dir`` the directory of safeship.toml (relative paths in the settings).
    ``TargetDefaults`` gives the members most targets answer trivially.
    """

    # True: the platform routes to the serving release itself (Railway, the user's scripts):
    # the environment takes the platform router and deploys all at once. False: safeship's
    # router in front splits traffic between releases. Read from the class, before any
    # instance exists (config validation).
    routes_itself: ClassVar[bool]

    def deploy(self, version: str, commit: str | None = None) -> Release:
        """Start ``version`` as a new release, not yet serving; return once it listens.

        ``commit`` is the commit the deploy was asked for: a platform that builds from the
        repository (Railway) builds that one; a target that runs what it is given ignores it.

        Raises TargetError when it cannot start (command missing, exits early, never listens).
        """
        ...

    def is_alive(self, release: Release) -> bool:
        """Whether the release's process still runs."""
        ...

    def stop(self, release: Release) -> None:
        """Stop one release (graceful, then forced)."""
        ...

    def releases(self) -> list[Release]:
        """Releases of this environment that are running now."""
        ...

    def down(self) -> None:
        """Stop every release of this environment."""
        ...

    def variables(self) -> dict[str, str]:
        """The environment variables the target gives a release (for env checks and drift)."""
        ...

    def set_variable(self, name: str, value: str) -> None:
        """Give every later release ``name=value``. TargetError (one line) when the target's
        variables are not this process's to change (a platform's, a user's script's)."""
        ...

    def reap(self) -> int:
        """Stop what a safeship that died mid-deploy left running and no record names (the
        caller holds the environment's lease); how many were stopped. 0 for a target that
        keeps nothing but its records."""
        ...

    def variables_table(self) -> tuple[str, ...] | None:
        """Where in the ``[target]`` table the variables it gives a release are written, when
        they are a table of safeship.toml (the local target's ``env``): errors then name the
        line. None when they come from elsewhere (a platform, a script)."""
        ...


class HostUnreachable(TargetError):
    """One host of a fleet did not answer (connect timeout, link down, SSH refused). The
    message names the host; ``host`` is its name in the config."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host


@runtime_checkable
class FleetTarget(Target, Protocol):
    """A target whose releases run on several hosts (the ``ssh`` target). The rollout asks
    for its plan, starts the release on the plan's first hosts (``deploy``), adds the other
    batches (``extend``) before full traffic, and takes out of traffic a host that stops
    answering (``host_states``, ``drop``)."""

    def hosts(self) -> list[str]:
        """The environment's hosts (names, in the config's order)."""
        ...

    def rollout_plan(self) -> RolloutPlan: ...

    def deploy_on(
        self, version: str, hosts: Sequence[str], commit: str | None = None
    ) -> FleetRelease:
        """Start ``version`` on ``hosts`` (in parallel), each listening before it returns.
        A host that fails stops the others' new instances and raises TargetError naming it
        (HostUnreachable when it did not answer)."""
        ...

    def extend(self, release: FleetRelease, hosts: Sequence[str]) -> FleetRelease:
        """Start the same version on more hosts (one batch, in parallel); the release with
        them added. On failure the batch's new instances are stopped and TargetError (or
        HostUnreachable) names the host; the release's other instances keep running."""
        ...

    def host_states(self, release: FleetRelease | None = None) -> list[HostState]:
        """Each host's state now, within the per-host timeout (in parallel)."""
        ...

    def drop(self, release: FleetRelease, host: str) -> FleetRelease:
        """Stop ``host``'s instance if the host answers (best effort) and forget it."""
        ...


class TargetDefaults:
    """The trivial answers of ``Target`` members, for a target to inherit."""

    environment: str
    routes_itself: ClassVar[bool] = False

    def set_variable(self, name: str, value: str) -> None:
        kind = type(self).__name__
        raise TargetError(
            f"{kind} of {self.environment}: its variables are read-only here (set {name} where "
            "the target takes them)"
        )

    def reap(self) -> int:
        return 0

    def variables_table(self) -> tuple[str, ...] | None:
        return None

    def capacity(self) -> HostCapacity | None:
        """Room for one more release on the host (the capacity gate); None: this target
        cannot tell (a platform's, a script's). Optional: the gate asks only targets that have
        it (a target on remote hosts answers for the host it deploys to next)."""
        return None

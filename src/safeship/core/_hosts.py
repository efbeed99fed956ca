"""A fleet's hosts (`safeship hosts setup|check|trust ENV`): the ssh target's hosts prepared,
looked at and their keys recorded (docs/fleet.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.targets.base import HostState
    from safeship.targets.ssh.target import SshTarget


class NotAFleet(ValueError):
    """The environment's target does not run releases on hosts. The message is one line."""


@dataclass(frozen=True)
class HostReport:
    """One host as `safeship hosts check` shows it."""

    host: str
    address: str
    reachable: bool
    ready: bool  # the host agent and the runtime are in place (`hosts setup` done)
    detail: str  # one line: why it is unreachable, or what the agent found
    releases: Mapping[str, int] = field(default_factory=dict)  # version -> pid


@dataclass(frozen=True)
class TrustedHost:
    """A host key `safeship hosts trust` read: its fingerprint, and whether it was added to
    the known_hosts file now (False: already there)."""

    host: str
    fingerprint: str
    added: bool


def _fleet(loaded: LoadedConfig, environment: str) -> SshTarget:
    from safeship.pipeline.environment import open_environment
    from safeship.targets.ssh.target import SshTarget

    target = open_environment(loaded, environment).target
    if not isinstance(target, SshTarget):
        kind = loaded.environment(environment).target.type
        raise NotAFleet(
            f"{environment} deploys with the {kind} target: hosts are the ssh target's "
            "(docs/fleet.md)"
        )
    return target


def _report(state: HostState) -> HostReport:
    return HostReport(
        state.host, state.address, state.reachable, state.ready, state.detail, state.releases
    )


def hosts_check(loaded: LoadedConfig, environment: str) -> list[HostReport]:
    """Each host of the environment now: reachable, prepared, its running releases."""
    target = _fleet(loaded, environment)
    try:
        return [_report(state) for state in target.host_states()]
    finally:
        target.close()


def hosts_setup(loaded: LoadedConfig, environment: str) -> list[HostReport]:
    """Prepare every host (its directory, the host agent, the runtime); idempotent."""
    target = _fleet(loaded, environment)
    try:
        return [_report(state) for state in target.setup()]
    finally:
        target.close()


def hosts_trust(
    loaded: LoadedConfig, environment: str, hosts: Sequence[str] = ()
) -> list[TrustedHost]:
    """Read the host keys of ``hosts`` (default: every host) and record the unknown ones in
    the known_hosts file. Check the fingerprints it prints against the hosts' own."""
    target = _fleet(loaded, environment)
    try:
        return [TrustedHost(h, fp, added) for h, fp, added in target.trust(list(hosts) or None)]
    finally:
        target.close()

"""A release on several hosts in the rollout (the ssh target, docs/fleet.md).

Three parts, each small: the router's backend of a release (a server per host, the hosts out of
traffic left out), the batches that start the release on the rest of the hosts before full
traffic, and the watch that takes a host that stops answering out of traffic, rolling back once
more hosts are lost than ``max_unavailable`` allows.

A host's fate is decided from two views: the router's health checks (a server the router finds
down) and the target's answer over SSH (reachable or not, the instance alive or not). The router
sees a dead host within its check interval; SSH says why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from safeship.analysis.bake import Poll
from safeship.analysis.rules import Verdict
from safeship.config.health import HealthSettings
from safeship.health.base import CheckResult
from safeship.health.basic import wait_until_healthy
from safeship.routing.base import Backend, FleetRouter, Router, Server
from safeship.targets.base import (
    FleetRelease,
    FleetTarget,
    HostUnreachable,
    Release,
    RolloutPlan,
    Target,
)

# How often the host watch looks at the router's servers (a `show stat`): the router's own
# checks are what notice a dead host, every check interval; this only reads their result.
HOST_WATCH_INTERVAL = 0.5


def backend_of(release: Release, weight: int, *, out: Collection[str] = ()) -> Backend:
    """The router's backend for ``release`` at ``weight``: a fleet release's server per host,
    the hosts in ``out`` (out of traffic) left out."""
    if isinstance(release, FleetRelease):
        servers = tuple(Server(i.host, i.url) for i in release.instances if i.host not in out)
        return Backend(release.version, release.url, weight, servers)
    return Backend(release.version, release.url, weight)


def without_hosts(backend: Backend, out: Collection[str]) -> Backend:
    """``backend`` with the servers of the hosts in ``out`` left out (none: unchanged)."""
    if not backend.servers or not out:
        return backend
    return replace(backend, servers=tuple(s for s in backend.servers if s.host not in out))


def fleet_target(target: Target) -> FleetTarget | None:
    """The target as a fleet target, when its releases run on several hosts."""
    return target if isinstance(target, FleetTarget) else None


@dataclass
class Fleet:
    """The hosts of one deployment: the plan, and the hosts taken out of traffic so far with
    why (host -> reason)."""

    target: FleetTarget
    plan: RolloutPlan
    out: dict[str, str] = field(default_factory=dict)

    def over_budget(self) -> bool:
        return len(self.out) > self.plan.max_unavailable

    def budget_reason(self, host: str, why: str) -> str:
        lost = len(self.out)
        return (
            f"host {host} unavailable ({why}); {lost} host{'s' if lost > 1 else ''} out of "
            f"traffic, max_unavailable is {self.plan.max_unavailable}"
        )

    def start(
        self,
        hosts: Sequence[str],
        start: Callable[[Sequence[str]], FleetRelease],
        on_out: Callable[[str, str], None],
    ) -> FleetRelease | None:
        """Start the release on ``hosts`` through ``start`` (deploy_on or extend); a host that
        does not answer is taken out (``on_out(host, reason)``) and the rest started again,
        while the budget allows. None when no host of ``hosts`` is left to start on.
        TargetError when a host fails otherwise; HostUnreachable once the budget is spent."""
        pending = [h for h in hosts if h not in self.out]
        while pending:  # each pass has one host fewer
            try:
                return start(pending)
            except HostUnreachable as exc:
                if exc.host not in pending:
                    raise
                why = str(exc)
                self.out[exc.host] = why
                on_out(exc.host, why)
                if self.over_budget():
                    raise HostUnreachable(exc.host, self.budget_reason(exc.host, why)) from None
                pending.remove(exc.host)
        return None


def verify_instances(
    release: Release, health: HealthSettings, is_alive: Callable[[], bool], urls: Sequence[str]
) -> list[tuple[str, CheckResult]]:
    """Level 1 on each of ``urls`` at once (a fleet's hosts in parallel); (url, result) in
    their order."""
    if len(urls) == 1:
        return [(urls[0], wait_until_healthy(urls[0], health, is_alive))]
    with ThreadPoolExecutor(max_workers=min(len(urls), 16)) as pool:
        results = list(pool.map(lambda url: wait_until_healthy(url, health, is_alive), urls))
    return list(zip(urls, results, strict=True))


def host_of(release: Release, url: str) -> str:
    """The host a fleet release's instance at ``url`` runs on ("" for a one-machine release)."""
    if isinstance(release, FleetRelease):
        for instance in release.instances:
            if instance.url == url:
                return instance.host
    return ""


class HostWatch:
    """Takes out of traffic a host whose server the router finds down and SSH cannot reach;
    rolls back beyond ``max_unavailable``, or when a reachable host's instance stopped
    answering (its process exited, or it fails the router's checks)."""

    def __init__(
        self,
        fleet: Fleet,
        router: FleetRouter,
        current: Callable[[], FleetRelease],
        take_out: Callable[[str, str], None],
    ) -> None:
        self.fleet = fleet
        self.router = router
        self.current = current
        self.take_out = take_out
        self.next_look = 0.0
        self.down_since: dict[str, float] = {}

    def begin(self, now: float) -> None:
        self.next_look = now

    def observe(self, poll: Poll) -> Verdict | None:
        if poll.now < self.next_look:
            return None
        self.next_look = poll.now + HOST_WATCH_INTERVAL
        release = self.current()
        down = {
            s.host
            for s in self.router.servers()
            if s.status == "down" and s.host in release.hosts and s.host not in self.fleet.out
        }
        if not down:
            return None
        states = {s.host: s for s in self.fleet.target.host_states(release)}
        for host in sorted(down):
            state = states.get(host)
            if state is None or not state.reachable:
                why = state.detail if state is not None and state.detail else "unreachable"
                self.fleet.out[host] = why
                self.take_out(host, why)
                if self.fleet.over_budget():
                    return Verdict(
                        "host_unavailable",
                        self.fleet.budget_reason(host, why),
                        {"host": host, "unavailable": sorted(self.fleet.out)},
                    )
                continue
            if release.version not in state.releases:
                return Verdict(
                    "process_exit",
                    f"release {release.version} exited on host {host}",
                    {"host": host},
                )
            return Verdict(
                "host_down",
                f"release {release.version} on host {host} fails the router's health checks",
                {"host": host},
            )
        return None


def fleet_router(router: Router) -> FleetRouter | None:
    """The router as a fleet router (it reports its servers), else None."""
    return router if isinstance(router, FleetRouter) else None

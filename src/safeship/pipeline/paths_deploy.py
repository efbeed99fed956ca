"""Deploying through the ``[paths]`` in failover order, and the emergency deploy from here.

``deploy_via_paths`` runs ``deploy_with_failover`` over the configured paths: a remote path
(github-actions, circleci, railway-native, a plugin's) is triggered and followed; the ``local``
path runs the normal in-process pipeline (``operations.deploy_in_session``, under the
environment's lease) with ``path = "local"`` in the deployment's metadata. Each path left for
the next is a ``path.failover`` event and the path that ran a ``path.completed`` event, both
environment-level (no deployment id) on the same bus as the deploy's own events.

Two deploys of one environment never run at once: the local path takes the environment's lease
as every local deploy does, and a path that deploys from this process through a platform's API
(railway-native) holds it from its trigger to the end of its run (``_UnderLease``). A CI path
(github-actions, circleci) does not: the workflow it starts runs ``safeship deploy`` there,
which takes the lease itself when it shares the registry.

``emergency_deploy`` is the local path alone, skipping CI and nothing else: env validation,
health verification and rollback run as in every deploy. It records who triggered it and
``path = "local-emergency"`` in the deployment's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from safeship.config import LoadedConfig
from safeship.events import Event, EventName
from safeship.health.resolve import require_resolvable
from safeship.paths.base import Availability, DeployPath, RunOutcome
from safeship.paths.build import breaker_for, build_paths
from safeship.paths.failover import Failover, deploy_with_failover
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.lease import DeployLease, operator
from safeship.registry import Registry

EMERGENCY_PATH = "local-emergency"
# Paths whose run is driven from this process (not a CI job running safeship itself).
DEPLOYS_FROM_HERE = frozenset({"railway-native"})


@dataclass(frozen=True)
class PathsDeployResult:
    """Which path ran the deploy and how it ended.

    ``outcome`` is the local deployment's when the ``local`` path ran, else None (the run was
    a remote one: ``run_id``, ``conclusion``, ``detail``, ``url`` describe it).
    """

    path: str
    ok: bool
    run_id: str
    conclusion: str
    detail: str = ""
    url: str | None = None
    outcome: DeploymentOutcome | None = None
    failovers: list[Failover] = field(default_factory=list)


def deploy_via_paths(
    loaded: LoadedConfig,
    environment: str,
    version: str,
    *,
    commit: str | None = None,
    triggered_by: str = "cli",
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    on_failover: Callable[[Failover], None] | None = None,
    event_log: TextIO | None = None,
) -> PathsDeployResult:
    """Deploy through the first configured path that can; ``AllPathsFailed`` if none could."""
    settings = loaded.config.paths
    if "local" in settings.order:
        # The local path's health checks need their variables: a config error now, not later.
        require_resolvable(loaded, environment)
    with operations.open_session(loaded, environment, event_log) as s:
        local: list[DeploymentOutcome] = []

        def run_locally(version: str, commit: str | None, environment: str) -> bool:
            outcome = operations.deploy_in_session(
                loaded,
                s,
                version,
                commit=commit,
                triggered_by=triggered_by,
                on_progress=on_progress,
                metadata={"path": "local"},
            )
            local.append(outcome)
            return outcome.ok

        def publish(name: EventName, attributes: dict[str, Any]) -> None:
            s.bus.publish(
                Event(
                    event=name,
                    environment=environment,
                    version=version,
                    commit=commit,
                    triggered_by=triggered_by,
                    attributes=attributes,
                )
            )

        def failed_over(failover: Failover) -> None:
            publish(
                "path.failover",
                {"from": failover.path, "to": failover.next_path, "reason": failover.reason},
            )
            if on_failover is not None:
                on_failover(failover)

        paths = [
            _UnderLease(path, s.registry, environment) if path.name in DEPLOYS_FROM_HERE else path
            for path in build_paths(settings, run_locally)
        ]
        result = deploy_with_failover(
            paths,
            version,
            commit,
            environment,
            breaker=breaker_for(settings, loaded.base_dir),
            on_failover=failed_over,
        )
        out = result.outcome
        publish(
            "path.completed",
            {
                "path": result.path,
                "run_id": result.run_id,
                "ok": out.ok,
                "conclusion": out.conclusion,
                "detail": out.detail,
                "url": out.url,
            },
        )
        return PathsDeployResult(
            path=result.path,
            ok=out.ok,
            run_id=result.run_id,
            conclusion=out.conclusion,
            detail=out.detail,
            url=out.url,
            outcome=local[-1] if result.path == "local" and local else None,
            failovers=result.failovers,
        )


class _UnderLease:
    """A path run under the environment's lease, taken before its trigger and released when
    its run has been followed to the end (or could not start). ``EnvironmentBusy`` is not a
    reason to fail over: it ends the deploy."""

    def __init__(self, path: DeployPath, registry: Registry, environment: str) -> None:
        self.name = path.name
        self._path = path
        self._registry = registry
        self._environment = environment
        self._held: dict[str, DeployLease] = {}

    def is_available(self) -> Availability:
        return self._path.is_available()

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        lease = DeployLease(self._registry, self._environment)
        lease.acquire()
        try:
            run_id = self._path.trigger(version, commit, environment)
        except BaseException:
            lease.release()
            raise
        self._held[run_id] = lease
        return run_id

    def follow(self, run_id: str) -> RunOutcome:
        lease = self._held.pop(run_id, None)
        try:
            return self._path.follow(run_id)
        finally:
            if lease is not None:
                lease.release()


def emergency_deploy(
    loaded: LoadedConfig,
    environment: str,
    version: str,
    *,
    commit: str | None = None,
    triggered_by: str = "cli",
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
) -> DeploymentOutcome:
    """Deploy from this machine now, CI skipped; every gate of a normal deploy still runs."""
    return operations.deploy(
        loaded,
        environment,
        version,
        commit=commit,
        triggered_by=triggered_by,
        on_progress=on_progress,
        event_log=event_log,
        metadata={"path": EMERGENCY_PATH, "triggered_by": triggered_by, "operator": operator()},
    )


def hotfix_reminder(version: str, commit: str | None) -> str:
    """The one line printed after an emergency deploy."""
    what = f"commit {commit}" if commit else f"version {version}"
    return (
        f"reminder: this emergency deploy skipped CI; open a hotfix pull request with {what} "
        "so the main branch and CI have it"
    )

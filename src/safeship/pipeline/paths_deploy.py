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

With ``[github]`` and its token, each run of a remote path is a GitHub deployment with its
statuses (``safeship.notify.github_paths``: ``_Reported`` tells it when a path was triggered
and how its run ended; the failover callback, why a path was left). The local path's deployment
is reported by the event-bus sink like every in-process deploy. ``[notify.slack]`` alerts go
through the same bus (``path.failover`` among them).

``emergency_deploy`` is the local path alone, skipping CI and nothing else: env validation,
health verification and rollback run as in every deploy. It records who triggered it and
``path = "local-emergency"`` in the deployment's metadata. ``emergency_followup`` then opens a
GitHub issue for the hotfix pull request when ``[github]`` has a token, else (or when GitHub
refuses) gives the reminder to open one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from safeship.config import LoadedConfig
from safeship.events import Event, EventName
from safeship.health.resolve import require_resolvable
from safeship.httpapi import ApiError
from safeship.notify.github_issues import EmergencyDeploy, open_issue
from safeship.notify.github_paths import PathDeployments, path_deployments
from safeship.notify.github_sink import github_token
from safeship.paths.base import Availability, DeployPath, PathError, RunOutcome
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
    with (
        operations.open_session(loaded, environment, event_log) as s,
        _reporting(loaded, environment, version, commit, triggered_by) as reporter,
    ):
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
            if reporter is not None:
                reporter.failed_over(failover)
            if on_failover is not None:
                on_failover(failover)

        def wrapped(path: DeployPath) -> DeployPath:
            if path.name == "local":  # in-process: the event-bus sink reports it
                return path
            if reporter is not None:
                path = _Reported(path, reporter)
            if path.name in DEPLOYS_FROM_HERE:
                path = _UnderLease(path, s.registry, environment)
            return path

        paths = [wrapped(path) for path in build_paths(settings, run_locally)]
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


@contextmanager
def _reporting(
    loaded: LoadedConfig, environment: str, version: str, commit: str | None, triggered_by: str
) -> Iterator[PathDeployments | None]:
    reporter = path_deployments(
        loaded.config.github, environment, version, commit, triggered_by=triggered_by
    )
    try:
        yield reporter
    finally:
        if reporter is not None:
            reporter.close()  # bounded: waits for the last statuses, never forever


class _Reported:
    """A remote path whose runs are reported as GitHub deployments: when it is triggered, and
    how its run ends. Leaving it for the next path is reported by the failover callback."""

    def __init__(self, path: DeployPath, reporter: PathDeployments) -> None:
        self.name = path.name
        self._path = path
        self._reporter = reporter

    def is_available(self) -> Availability:
        return self._path.is_available()

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        run_id = self._path.trigger(version, commit, environment)
        run_url: Callable[[str], str | None] | None = getattr(self._path, "run_url", None)
        self._reporter.triggered(self.name, run_id, run_url(run_id) if run_url else None)
        return run_id

    def follow(self, run_id: str) -> RunOutcome:
        try:
            outcome = self._path.follow(run_id)
        except PathError as exc:
            self._reporter.not_followed(self.name, str(exc))
            raise
        self._reporter.finished(self.name, outcome)
        return outcome


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


def emergency_followup(
    loaded: LoadedConfig,
    environment: str,
    commit: str | None,
    triggered_by: str,
    outcome: DeploymentOutcome,
) -> tuple[str, str | None]:
    """After an emergency deploy: (the line to print, a warning or None).

    With ``[github]`` and its token, a GitHub issue is opened and the line gives its URL;
    otherwise, or when GitHub refuses (the warning says why), the line is the reminder.
    """
    version = outcome.version
    settings = loaded.config.github
    token = github_token(settings) if settings is not None else None
    if settings is None or token is None:
        return hotfix_reminder(version, commit), None
    status = outcome.status.value + (f": {outcome.reason}" if outcome.reason else "")
    deploy = EmergencyDeploy(
        environment=environment,
        version=version,
        commit=commit,
        triggered_by=triggered_by,
        operator=operator(),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        deployment_id=outcome.deployment_id,
        outcome=status,
    )
    try:
        url = open_issue(settings, token, deploy, labels=settings.issue_labels)
    except ApiError as exc:
        warning = f"safeship: warning: the emergency deploy's GitHub issue was not opened: {exc}"
        return hotfix_reminder(version, commit), warning
    what = f"commit {commit}" if commit else f"version {version}"
    return f"emergency deploy issue opened: {url} (open a hotfix pull request with {what})", None


def hotfix_reminder(version: str, commit: str | None) -> str:
    """The one line printed after an emergency deploy."""
    what = f"commit {commit}" if commit else f"version {version}"
    return (
        f"reminder: this emergency deploy skipped CI; open a hotfix pull request with {what} "
        "so the main branch and CI have it"
    )

"""Deploying through the ``[paths]`` in failover order, and the emergency deploy from here.

``deploy_via_paths`` runs ``deploy_with_failover`` over the configured paths. Whichever path
runs a deploy, the same sequence holds:

- A path that deploys from this process (``in_process``: local, railway-native) runs the normal
  pipeline, ``operations.deploy_in_session`` with the environment's target, under the
  environment's lease: the registry row with its ``path``, the env gate, the
  target's deploy (with the commit, for a target that takes one: Railway builds that commit),
  health verification on the release's URL, rollback on a failed deploy or verification,
  events, the GitHub status (the event-bus sink) and alerts. A path that cannot deploy the
  environment (``refuses``: railway-native for a target that is not railway, or for another
  service) is unavailable for this deploy and the next one is tried.
- A CI path (github-actions, circleci) starts a workflow that runs ``safeship deploy`` there;
  that run takes the lease, writes the deployment row (its path from the CI's variables, see
  ``safeship.paths.base.ci_path``) and runs every gate when it shares the registry. This process
  records the run and how it ended: ``path.completed`` (run id, ok, conclusion) and a GitHub
  deployment per run (``safeship.notify.github_paths``: ``_Reported`` tells it when the path was
  triggered and how its run ended; the failover callback, why a path was left).

Each path left for the next is a ``path.failover`` event and the path that ran a
``path.completed`` event, both environment-level (no deployment id) on the same bus as the
deploy's own events. ``[notify.slack]`` alerts go through the same bus.

``emergency_deploy`` is the local path alone, skipping CI and nothing else: env validation,
health verification and rollback run as in every deploy. It records who triggered it,
``path = "local-emergency"`` and the operator (``notes``) on the deployment's row.
``emergency_followup`` then opens a
GitHub issue for the hotfix pull request when ``[github]`` has a token, else (or when GitHub
refuses) gives the reminder to open one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from safeship.analytics.recording import Write, record_ci_run
from safeship.config import LoadedConfig
from safeship.events import Event, EventName
from safeship.health.resolve import require_resolvable
from safeship.httpapi import ApiError
from safeship.notify.github_issues import EmergencyDeploy, open_issue
from safeship.notify.github_paths import PathDeployments, path_deployments
from safeship.notify.github_sink import github_token
from safeship.paths.base import Availability, DeployPath, PathDefaults, PathError, RunOutcome
from safeship.paths.build import breaker_for, build_paths
from safeship.paths.failover import Failover, deploy_with_failover
from safeship.paths.local import EMERGENCY_PATH as EMERGENCY_PATH  # core's name for it
from safeship.paths.local import Runner
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.lease import operator
from safeship.registry.records import DeploymentNotes

if TYPE_CHECKING:
    from safeship.gates.base import GateOverride
    from safeship.registry import Registry


@dataclass(frozen=True)
class PathsDeployResult:
    """Which path ran the deploy and how it ended.

    ``outcome`` is the deployment's when a path ran it in this process (local,
    railway-native), else None (a CI run elsewhere: ``run_id``, ``conclusion``, ``detail``,
    ``url`` describe it).
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
    with (
        operations.open_session(loaded, environment, event_log) as s,
        _reporting(loaded, environment, version, commit, triggered_by) as reporter,
    ):
        ran_here: dict[str, DeploymentOutcome] = {}

        def run_here(path_name: str) -> Runner:
            def run(version: str, commit: str | None, environment: str) -> bool:
                outcome = operations.deploy_in_session(
                    loaded,
                    s,
                    version,
                    commit=commit,
                    triggered_by=triggered_by,
                    on_progress=on_progress,
                    notes=DeploymentNotes(path=path_name),
                )
                ran_here[path_name] = outcome
                return outcome.ok

            return run

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
            if path.in_process:  # the pipeline's events report it, as every deploy from here
                reason = path.refuses(environment, s.env.settings.target)
                return _Refused(path, reason) if reason else path
            recorded = _Recorded(path, s.registry, environment, version)  # its CI minutes
            recorders.append(recorded)
            return _Reported(recorded, reporter) if reporter is not None else recorded

        recorders: list[_Recorded] = []
        paths = [wrapped(path) for path in build_paths(settings, run_here)]
        if any(path.in_process for path in paths):
            # The health checks' variables: a config error now, not mid-deploy.
            require_resolvable(loaded, environment)
        try:
            result = deploy_with_failover(
                paths,
                version,
                commit,
                environment,
                breaker=breaker_for(settings, loaded.base_dir),
                on_failover=failed_over,
            )
        finally:
            for recorder in recorders:  # the CI runs' rows, written meanwhile (bounded waits)
                recorder.settle()
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
                "deployment_id": (
                    ran_here[result.path].deployment_id if result.path in ran_here else None
                ),
            },
        )
        return PathsDeployResult(
            path=result.path,
            ok=out.ok,
            run_id=result.run_id,
            conclusion=out.conclusion,
            detail=out.detail,
            url=out.url,
            outcome=ran_here.get(result.path),
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


class _Refused(PathDefaults):
    """An in-process path that cannot deploy this environment: unavailable, with the reason."""

    def __init__(self, path: DeployPath, reason: str) -> None:
        self.name = path.name
        self._path = path
        self._reason = reason

    def is_available(self) -> Availability:
        return Availability(False, self._reason, settled=True)  # no cool-down: it is config

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        raise PathError(f"{self.name}: {self._reason}")

    def follow(self, run_id: str) -> RunOutcome:
        raise PathError(f"{self.name}: {self._reason}")


class _Reported(PathDefaults):
    """A CI path whose runs are reported as GitHub deployments: when it is triggered, and
    how its run ends. Leaving it for the next path is reported by the failover callback."""

    def __init__(self, path: DeployPath, reporter: PathDeployments) -> None:
        self.name = path.name
        self._path = path
        self._reporter = reporter

    def is_available(self) -> Availability:
        return self._path.is_available()

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        run_id = self._path.trigger(version, commit, environment)
        self._reporter.triggered(self.name, run_id, self._path.run_url(run_id))
        return run_id

    def follow(self, run_id: str) -> RunOutcome:
        try:
            outcome = self._path.follow(run_id)
        except PathError as exc:
            self._reporter.not_followed(self.name, str(exc))
            raise
        self._reporter.finished(self.name, outcome)
        return outcome


class _Recorded(PathDefaults):
    """A CI path whose runs are recorded in the registry's ``ci_runs`` as they end (their
    minutes are the analytics' CI cost), on a thread of their own: neither the next path of a
    failover nor the deploy waits for the write, and a registry that fails never fails the
    deploy. ``settle`` waits for the writes (a bounded time each)."""

    def __init__(
        self, path: DeployPath, registry: Registry, environment: str, version: str
    ) -> None:
        self.name = path.name
        self._path = path
        self._registry = registry
        self._environment = environment
        self._version = version
        self._writes: list[Write] = []

    def is_available(self) -> Availability:
        return self._path.is_available()

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        return self._path.trigger(version, commit, environment)

    def run_url(self, run_id: str) -> str | None:
        return self._path.run_url(run_id)

    def follow(self, run_id: str) -> RunOutcome:
        outcome = self._path.follow(run_id)
        write = record_ci_run(
            self._registry,
            path=self.name,
            run_id=run_id,
            environment=self._environment,
            version=self._version,
            conclusion=outcome.conclusion,
            started_at=outcome.started_at,
            completed_at=outcome.completed_at,
        )
        if write is not None:
            self._writes.append(write)
        return outcome

    def settle(self) -> None:
        for write in self._writes:
            write.wait()


def emergency_deploy(
    loaded: LoadedConfig,
    environment: str,
    version: str,
    *,
    commit: str | None = None,
    triggered_by: str = "cli",
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
    gate_override: GateOverride | None = None,
) -> DeploymentOutcome:
    """Deploy from this machine now, CI skipped; every gate of a normal deploy still runs
    (``gate_override``: an approver's --override-gates lets failed chain/freeze gates pass)."""
    return operations.deploy(
        loaded,
        environment,
        version,
        commit=commit,
        triggered_by=triggered_by,
        on_progress=on_progress,
        event_log=event_log,
        notes=DeploymentNotes(path=EMERGENCY_PATH, notes=f"operator: {operator()}"),
        gate_override=gate_override,
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

"""Deployments: deploy, rollback, recover, promote, abort, status, history, up, down.

Each calls the pipeline (``safeship.pipeline.operations``, ``.paths_deploy``, ``.requests``) and
gives typed records back. The pipeline, the registry (SQLAlchemy, Alembic) and the deploy
machinery (httpx, the judge) are imported by the operation that uses them: `safeship status`
starts fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from safeship.core._records import (
    DeploymentSummary,
    DeployMode,
    DeployRequest,
    DeployResult,
    EnvironmentStatus,
    Failover,
    HistoryQuery,
    InstanceStatus,
    ReleaseStatus,
    RollbackResult,
    deployment_summary,
    traffic_rows,
)

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.paths.failover import Failover as PathFailover
    from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
    from safeship.targets.base import Release

ProgressCallback = Callable[["LiveSnapshot"], None]


def deploy_mode(*, via_paths: bool, emergency: bool) -> DeployMode:
    """The mode the two switches ask for; both at once is refused (a usage error)."""
    from safeship.pipeline.deploy import DeployRefused

    if via_paths and emergency:
        raise DeployRefused(
            "--via-paths and --emergency exclude each other: "
            "an emergency deploy runs from this machine only"
        )
    return (
        DeployMode.PATHS if via_paths else DeployMode.EMERGENCY if emergency else DeployMode.LOCAL
    )


def deploy_result(outcome: DeploymentOutcome, path: str | None = None) -> DeployResult:
    """A pipeline's outcome as the core gives it (``path``: the deploy path it took)."""
    return DeployResult(
        version=outcome.version,
        ok=outcome.ok,
        status=outcome.status.value,
        reason=outcome.reason,
        deployment_id=outcome.deployment_id,
        path=path,
    )


def deploy(
    loaded: LoadedConfig,
    request: DeployRequest,
    *,
    on_progress: ProgressCallback | None = None,
    on_failover: Callable[[Failover], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    event_log: TextIO | None = None,
) -> DeployResult:
    """Deploy ``request.version``: from here, through the deploy paths, or as an emergency.

    ``on_finished`` is called as soon as the deployment itself has ended (before the emergency
    follow-up is filed), so a face can close its live view. ``event_log``: where the events go
    as JSON lines (default: the state directory's events.jsonl).
    """
    from safeship.core._reports import store_reports
    from safeship.pipeline.deploy import Interrupted

    try:
        result = _deploy(
            loaded, request, on_progress=on_progress, on_failover=on_failover,
            on_finished=on_finished, event_log=event_log,
        )  # fmt: skip
    except Interrupted:  # Ctrl-C: the deployment was rolled back or aborted, and has ended
        store_reports(loaded, request.environment)
        raise
    # The report of every deployment that ended (this one, and any a recovery closed). A
    # deploy that could not run (a busy environment, an unreachable registry) writes none: the
    # next one catches up.
    store_reports(loaded, request.environment)
    after_release(loaded, request.environment, result, event_log)
    return result


def after_release(
    loaded: LoadedConfig, environment: str, result: DeployResult, event_log: TextIO | None
) -> None:
    """The post-deploy steps (the tag, the artifacts, the release's news) of a deployment that
    ended succeeded in this process, whatever its mode (a deploy path run elsewhere has its
    own), then its report once more: it shows their verdicts. Never raises but for Ctrl-C."""
    from safeship.core._reports import store_reports
    from safeship.postdeploy.run import run_post_deploy

    deployment_id = result.deployment_id
    if result.status != "succeeded" or deployment_id is None:
        return
    ran = run_post_deploy(loaded, environment, deployment_id, event_log=event_log)
    if ran:
        store_reports(loaded, environment, also=[deployment_id])


def _deploy(
    loaded: LoadedConfig,
    request: DeployRequest,
    *,
    on_progress: ProgressCallback | None,
    on_failover: Callable[[Failover], None] | None,
    on_finished: Callable[[], None] | None,
    event_log: TextIO | None,
) -> DeployResult:
    from safeship.gates.base import GateOverride
    from safeship.pipeline import operations, paths_deploy
    from safeship.pipeline.deploy import DeployRefused

    env, version = request.environment, request.version
    commit, by = request.commit, request.triggered_by
    finished = on_finished or (lambda: None)
    given = request.override
    override = GateOverride(given.reason, given.by) if given is not None else None
    if override is not None and request.mode is DeployMode.PATHS:
        # A CI path's job runs the deploy elsewhere, with its own identity.
        raise DeployRefused(
            "--override-gates applies to a deploy from this machine, not --via-paths"
        )
    if request.mode is DeployMode.PATHS:
        failed_over = None
        if on_failover is not None:
            report = on_failover

            def failed_over(f: PathFailover) -> None:
                report(Failover(f.path, f.reason, f.next_path))

        paths_result = paths_deploy.deploy_via_paths(
            loaded,
            env,
            version,
            commit=commit,
            triggered_by=by,
            on_progress=on_progress,
            on_failover=failed_over,
            event_log=event_log,
        )
        finished()
        outcome = paths_result.outcome
        return DeployResult(
            version=version,
            ok=paths_result.ok,
            status=outcome.status.value if outcome else None,
            reason=outcome.reason if outcome else None,
            deployment_id=outcome.deployment_id if outcome else None,
            path=paths_result.path,
            run_id=paths_result.run_id,
            conclusion=paths_result.conclusion,
            detail=paths_result.detail,
            url=paths_result.url,
        )
    if request.mode is DeployMode.EMERGENCY:
        outcome = paths_deploy.emergency_deploy(
            loaded, env, version, commit=commit, triggered_by=by, on_progress=on_progress,
            event_log=event_log, gate_override=override,
        )  # fmt: skip
        finished()
        # The GitHub issue for the hotfix pull request, or the reminder to open one.
        line, warning = paths_deploy.emergency_followup(loaded, env, commit, by, outcome)
        base = deploy_result(outcome, paths_deploy.EMERGENCY_PATH)
        return dataclasses.replace(base, followup=line, followup_warning=warning or None)
    outcome = operations.deploy(
        loaded,
        env,
        version,
        commit=commit,
        triggered_by=by,
        strategy=request.strategy,
        on_progress=on_progress,
        event_log=event_log,
        gate_override=override,
    )
    finished()
    return deploy_result(outcome)


def rollback(
    loaded: LoadedConfig,
    environment: str,
    *,
    on_progress: ProgressCallback | None = None,
    event_log: TextIO | None = None,
    triggered_by: str | None = None,
) -> RollbackResult:
    """Put the previous good version back; or finish an interrupted deploy's rollback; or, when
    a deploy is running (it holds the lease), ask it to roll back itself. ``triggered_by``: who
    asked (e.g. "dashboard:alice"; default: the `safeship rollback` command)."""
    from safeship.core._reports import serving_deployment, store_reports
    from safeship.pipeline import operations
    from safeship.registry import EnvironmentBusy

    reverted = serving_deployment(loaded, environment)
    try:
        outcome = operations.rollback(
            loaded, environment, on_progress=on_progress, event_log=event_log,
            triggered_by=triggered_by,
        )  # fmt: skip
    except EnvironmentBusy:
        # A deploy holds the lease: leave it an abort request (it reads it within 0.25 s).
        running = abort_running(loaded, environment, requested_by=triggered_by)
        if running is None:  # busy with something else (a rollback, `safeship down`)
            raise
        return RollbackResult(environment, abort_requested=running)
    # The rollback's own report, and the reverted deployment's again (now rolled back).
    store_reports(loaded, environment, also=[reverted] if reverted else [])
    if outcome is None:
        return RollbackResult(environment, recovered=True)
    return RollbackResult(environment, deployed=deploy_result(outcome))


def abort_running(
    loaded: LoadedConfig, environment: str, *, requested_by: str | None = None
) -> DeploymentSummary | None:
    """Ask the deployment running in ``environment`` to roll back (as `rollback` does while a
    deploy holds the lease); the deployment, or None when none is running."""
    from safeship.pipeline.requests import abort_running as leave_abort_request

    record = leave_abort_request(loaded, environment, requested_by=requested_by)
    return None if record is None else deployment_summary(record)


def recover(loaded: LoadedConfig, environment: str) -> list[DeploymentSummary]:
    """Close the deployments a safeship that died left open; the ones closed (as they were)."""
    from safeship.core._reports import store_reports
    from safeship.pipeline import operations

    closed = operations.recover(loaded, environment)
    store_reports(loaded, environment)
    return [deployment_summary(r) for r in closed]


def promote(
    loaded: LoadedConfig, environment: str, *, requested_by: str | None = None
) -> DeploymentSummary:
    """Let the deployment paused in ``environment`` go on (RequestRefused when none is).
    ``requested_by``: who asks (default: the `safeship promote` command)."""
    from safeship.pipeline.requests import request

    return deployment_summary(request(loaded, environment, "promote", requested_by))


def abort(
    loaded: LoadedConfig, environment: str, *, requested_by: str | None = None
) -> DeploymentSummary:
    """Roll back the deployment running in ``environment`` (RequestRefused when none is).
    ``requested_by``: who asks (default: the `safeship abort` command)."""
    from safeship.pipeline.requests import request

    return deployment_summary(request(loaded, environment, "abort", requested_by))


def status(loaded: LoadedConfig, environment: str | None = None) -> list[EnvironmentStatus]:
    """What serves, with what traffic, and the last deployment: one environment, or all."""
    from safeship.pipeline import operations
    from safeship.registry import Registry

    names = [environment] if environment else sorted(loaded.config.environments)
    statuses = []
    # One registry for every environment: on PostgreSQL each opening is a new connection, and
    # one per environment was most of the overview's time.
    with Registry(loaded.registry_url()) as registry:
        for name in names:
            s = operations.status(loaded, name, registry)
            weights = {b.name: b.weight for b in s.backends}
            statuses.append(
                EnvironmentStatus(
                    environment=name,
                    port=s.port,
                    router_running=s.router_running,
                    releases=tuple(
                        ReleaseStatus(
                            r.version,
                            s.alive.get(r.version, False),
                            r.pid,
                            r.port,
                            r.url,
                            _instances(r),
                        )
                        for r in s.releases
                    ),
                    # What the router serves: its releases' figures, not a stopped one's.
                    traffic=traffic_rows(
                        weights, {n: st for n, st in s.stats.items() if n in weights}
                    )
                    if s.router_running
                    else (),
                    last=deployment_summary(s.last) if s.last else None,
                    target_error=s.target_error,
                )
            )
    return statuses


def history(loaded: LoadedConfig, query: HistoryQuery) -> list[DeploymentSummary]:
    """Deployments, newest first (an unknown environment is an error, not an empty list)."""
    from safeship.registry import Registry
    from safeship.registry.deployments import HistoryFilter

    if query.environment is not None:
        loaded.environment(query.environment)  # an unknown environment is an error, not []
    filters = HistoryFilter(
        statuses=query.statuses,
        version=query.version,
        triggered_by=query.triggered_by,
        path=query.path,
        since=query.since,
        until=query.until,
        before=query.before,
    )
    with Registry(loaded.registry_url()) as registry:
        records = registry.history(query.environment, limit=query.limit, filters=filters)
    return [deployment_summary(r) for r in records]


def up(loaded: LoadedConfig, environment: str) -> int | None:
    """Start the environment's router; the port it listens on (None: the platform routes)."""
    from safeship.pipeline import operations

    operations.up(loaded, environment)
    return loaded.config.environments[environment].port


def down(loaded: LoadedConfig, environment: str) -> int:
    """Stop the router and every release of the environment; the number of processes stopped."""
    from safeship.pipeline import operations

    return operations.down(loaded, environment)


def _instances(release: Release) -> tuple[InstanceStatus, ...]:
    """A fleet release's instances (host, address, pid); () for a release on one machine."""
    from safeship.targets.base import FleetRelease

    if not isinstance(release, FleetRelease):
        return ()
    return tuple(InstanceStatus(i.host, i.url, i.pid) for i in release.instances)

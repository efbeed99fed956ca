"""The operations the CLI (and later the dashboard) call: plain arguments in, data out."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from safeship._files import open_private_text
from safeship.config import LoadedConfig
from safeship.pipeline.drain import drain
from safeship.pipeline.environment import Environment, open_environment
from safeship.pipeline.fleet import backend_of
from safeship.pipeline.intent import complete_pending
from safeship.pipeline.states import TAKES_TRAFFIC, Status
from safeship.routing.base import Backend, BackendStats
from safeship.targets.base import Release, TargetError

# The deploy machinery (httpx, the judge, the notifiers) and the registry (SQLAlchemy, Alembic)
# are imported by the operations that use them: `safeship status` and `config check` start fast.
if TYPE_CHECKING:
    from safeship.events import EventBus
    from safeship.gates.base import GateOverride
    from safeship.pipeline.deploy import Deployer, DeploymentOutcome, LiveSnapshot
    from safeship.pipeline.lease import DeployLease
    from safeship.registry import DeploymentRecord, Lease, Registry
    from safeship.registry.deployments import HistoryFilter
    from safeship.registry.records import DeploymentNotes


@dataclass
class Session:
    """What one command works with: the environment, the registry, the event bus."""

    env: Environment
    registry: Registry
    bus: EventBus


@contextmanager
def open_session(
    loaded: LoadedConfig, environment: str, event_log: TextIO | None = None
) -> Iterator[Session]:
    from safeship.alerts.service import start_alerting
    from safeship.events import EventBus, JsonLinesSink, RegistrySink, Sink
    from safeship.events.tracing import tracing_sink
    from safeship.notify.github_sink import github_sink
    from safeship.registry import Registry

    env = open_environment(loaded, environment)
    registry = Registry(loaded.registry_url())
    alerting = None
    github = None
    tracer = tracing_sink()  # None unless OTEL_EXPORTER_OTLP_*ENDPOINT asks for traces
    try:
        # [github]: the GitHub deployment statuses (not an alert channel); [notify.*]: the
        # alert channels. One without its token or URL is left out with one warning line. The
        # dispatcher first delivers what earlier processes left pending in the outbox.
        github = github_sink(loaded.config.github)
        alerting = start_alerting(loaded.config, registry)
        with _event_log(loaded, event_log) as stream:
            sinks: list[Sink] = [JsonLinesSink(stream), RegistrySink(registry)]
            sinks += [github] if github is not None else []
            sinks.append(alerting.sink)
            sinks += [tracer] if tracer else []
            yield Session(env, registry, EventBus(sinks))
    finally:
        # Each waits a bounded time for what it has queued (statuses, ripe alerts, spans) to
        # be sent; alerts left pending are the next safeship process's to deliver.
        if alerting is not None:
            alerting.close()
        if github is not None:
            github.close()
        if tracer is not None:
            tracer.close()  # bounded: FLUSH_TIMEOUT
        registry.close()


@contextmanager
def _event_log(loaded: LoadedConfig, stream: TextIO | None) -> Iterator[TextIO]:
    if stream is not None:
        yield stream
        return
    path: Path = loaded.state_dir / "events.jsonl"
    with open_private_text(path) as file:
        yield file


def deploy(
    loaded: LoadedConfig,
    environment: str,
    version: str,
    *,
    commit: str | None = None,
    triggered_by: str = "cli",
    strategy: str | None = None,
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
    notes: DeploymentNotes | None = None,
    gate_override: GateOverride | None = None,
) -> DeploymentOutcome:
    """Deploy from this machine; ``notes`` are stored with the deployment (e.g. its path).
    ``gate_override``: an approver's --override-gates (the caller checked the role)."""
    from safeship.health.resolve import require_resolvable

    # A health check's variable that is not set is a config error now, not mid-deploy.
    require_resolvable(loaded, environment)
    with open_session(loaded, environment, event_log) as s:
        return deploy_in_session(
            loaded,
            s,
            version,
            commit=commit,
            triggered_by=triggered_by,
            strategy=strategy,
            on_progress=on_progress,
            notes=notes,
            gate_override=gate_override,
        )


def deploy_in_session(
    loaded: LoadedConfig,
    s: Session,
    version: str,
    *,
    commit: str | None = None,
    triggered_by: str = "cli",
    strategy: str | None = None,
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    notes: DeploymentNotes | None = None,
    gate_override: GateOverride | None = None,
) -> DeploymentOutcome:
    """One local deployment under the environment's lease, in an open session."""
    from safeship.envschema.gate import env_gate
    from safeship.paths.base import ci_path
    from safeship.pipeline.deploy import Deployer
    from safeship.pipeline.gating import context_factory, gate_runner
    from safeship.pipeline.lease import DeployLease
    from safeship.registry.records import DeploymentNotes

    environment = s.env.name
    given = notes or DeploymentNotes()
    with DeployLease(s.registry, environment) as lease:
        recover_locked(s, lease.taken_over)
        schema_path = loaded.base_dir / loaded.config.project.env_schema
        deployer = Deployer(
            environment,
            s.env.settings,
            s.env.target,
            s.env.router,
            s.registry,
            s.bus,
            on_progress,
            env_gate=env_gate(schema_path, environment, s.env.target),
            on_created=lease.attach,
            run_dir=s.env.run_dir,
            gates=gate_runner(s.env),
            gate_context=context_factory(loaded, s.env, s.registry, gate_override),
        )
        return deployer.deploy(
            version,
            commit=commit,
            triggered_by=triggered_by,
            strategy=strategy,
            # The path: the caller's, else the CI job's this runs in (a CI path's workflow).
            notes=dataclasses.replace(
                given,
                path=given.path or ci_path(),
                gate_verdict=given.gate_verdict or _gate_verdict(loaded, commit),
            ),
        )


def _gate_verdict(loaded: LoadedConfig, commit: str | None) -> str | None:
    """Whether the deployed commit passed the pre-push gate (a --no-verify push: not_run)."""
    if commit is None:
        return None
    from safeship.hooks.gate import gate_record_for

    verdict = gate_record_for(commit, loaded.base_dir).get("gate")
    return verdict if isinstance(verdict, str) else None


def rollback_deployer(
    s: Session, lease: DeployLease, on_progress: Callable[[LiveSnapshot], None] | None
) -> Deployer:
    """A deployer that puts an earlier version back (a rollback, a drill's back leg): no env
    gate and no gates, since the version already served here."""
    from safeship.pipeline.deploy import Deployer

    return Deployer(
        s.env.name,
        s.env.settings,
        s.env.target,
        s.env.router,
        s.registry,
        s.bus,
        on_progress,
        on_created=lease.attach,
        run_dir=s.env.run_dir,
    )


def recover_locked(s: Session, taken_over: Lease | None = None) -> list[DeploymentRecord]:
    """Finish what a safeship that died mid-deploy left: traffic back to stable, records closed.

    The caller holds the environment's lease, so any deployment still marked active has no
    living orchestrator. ``taken_over``: the dead holder's lease the caller took over, named in
    the reason.
    """
    from safeship.gates.unfinished import close_unfinished
    from safeship.registry.leases import when

    # A rollback that switched traffic but could not write the registry (locked, unreachable,
    # or safeship died in between): its record, from the write-ahead intent.
    complete_pending(s.env.run_dir, s.registry)
    # A release whose pid file was never written (killed mid-spawn).
    s.env.target.reap()
    orphans = s.registry.active(s.env.name)
    stable = s.registry.last_succeeded(s.env.name)
    if not orphans:
        # A promotion cut short after `succeeded` may have left the old release running.
        # Cleanup only: a target that cannot answer now fails the deploy itself, with its
        # reason recorded.
        with contextlib.suppress(TargetError):
            _stop_leftovers(s, stable.version if stable else None)
        return []
    stable_release = _running(s.env.target.releases(), stable.version if stable else None)
    router_running = s.env.router.is_running()
    if router_running:
        s.env.router.set_backends([backend_of(stable_release, 100)] if stable_release else [])
    left = time.monotonic()
    for release in s.env.target.releases():
        if stable_release is None or release.version != stable_release.version:
            if router_running:  # requests in flight on it finish first
                drain(s.env.router, release.version, s.env.settings.drain_timeout, since=left)
            s.env.target.stop(release)
    reason = "orchestrator lost: safeship stopped before the deployment finished; recovered"
    if taken_over is not None:
        reason = (
            f"orchestrator lost: {taken_over.holder} stopped renewing its lease "
            f"(last heartbeat {when(taken_over.heartbeat_at)}); recovered"
        )
    for record in orphans:
        took_traffic = Status(record.status) in TAKES_TRAFFIC
        final = Status.ROLLED_BACK if took_traffic else Status.ABORTED
        # A gate cut short never reads as passed (a migration as applied): its row says so.
        closed = close_unfinished(s.registry, record.id)
        s.registry.update_deployment(
            record.id,
            status=final.value,
            rollback_reason="; ".join([reason, *(f"{g.gate} gate: {g.reason}" for g in closed)]),
            completed=True,
        )
    return orphans


def _stop_leftovers(s: Session, stable_version: str | None) -> None:
    """Stop every release but the running stable one (nothing when the stable is not running)."""
    releases = s.env.target.releases()
    stable_release = _running(releases, stable_version)
    if stable_release is None:
        return
    for release in releases:
        if release.version != stable_release.version:
            s.env.target.stop(release)


def recover(loaded: LoadedConfig, environment: str) -> list[DeploymentRecord]:
    from safeship.pipeline.lease import DeployLease

    with (
        open_session(loaded, environment) as s,
        DeployLease(s.registry, environment) as lease,
    ):
        return recover_locked(s, lease.taken_over)


def rollback(
    loaded: LoadedConfig,
    environment: str,
    *,
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
    triggered_by: str | None = None,
) -> DeploymentOutcome | None:
    """Put the previous good version back (all at once) and mark the current one rolled back.

    Returns None when there was only an interrupted deployment to undo (recovery did it).
    ``triggered_by``: who asked (default: the `safeship rollback` command).
    """
    from safeship.pipeline.lease import DeployLease

    with (
        open_session(loaded, environment, event_log) as s,
        DeployLease(s.registry, environment) as lease,
    ):
        if recover_locked(s, lease.taken_over):
            return None
        current = s.registry.last_succeeded(environment)
        if current is None:
            raise RollbackImpossible(f"{environment} has no successful deployment to roll back")
        previous = s.registry.last_succeeded(environment, before=current.id)
        if previous is None:
            raise RollbackImpossible(
                f"{environment} has no earlier successful deployment than {current.version}"
            )
        deployer = rollback_deployer(s, lease, on_progress)
        # In an incident: traffic moves as soon as the release answers its health checks; no
        # bake and no monitoring hold the command (`safeship status` / the rules watch after).
        outcome = deployer.deploy(
            previous.version,
            commit=previous.commit_sha,
            triggered_by=triggered_by or "rollback",
            strategy="all-at-once",
            bake=False,
        )
        if outcome.ok:
            s.registry.update_deployment(
                current.id,
                status=Status.ROLLED_BACK.value,
                rollback_reason=f"rolled back to {previous.version} by "
                f"{triggered_by or 'safeship rollback'}",
            )
        return outcome


class RollbackImpossible(Exception):
    pass


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    port: int | None  # None: the platform routes (no local router port)
    router_running: bool
    backends: list[Backend]
    stats: dict[str, BackendStats]
    releases: list[Release]
    alive: dict[str, bool]
    last: DeploymentRecord | None
    # Why the releases could not be listed (e.g. a platform token that is not set): the
    # registry's part of the status is shown all the same.
    target_error: str | None = None


def status(
    loaded: LoadedConfig, environment: str, registry: Registry | None = None
) -> EnvironmentStatus:
    """``registry``: an open one to read (the status of every environment opens one)."""
    from safeship.registry import Registry

    env = open_environment(loaded, environment)
    running = env.router.is_running()
    target_error: str | None = None
    try:
        releases = env.target.releases()
        alive = {r.version: env.target.is_alive(r) for r in releases}
    except TargetError as exc:
        releases, alive, target_error = [], {}, str(exc)
    if registry is not None:
        history = registry.history(environment, limit=1)
    else:
        with Registry(loaded.registry_url()) as opened:
            history = opened.history(environment, limit=1)
    return EnvironmentStatus(
        environment=environment,
        port=env.settings.port,
        router_running=running,
        backends=env.router.backends() if running else [],
        stats=env.router.stats() if running else {},
        releases=releases,
        alive=alive,
        last=history[0] if history else None,
        target_error=target_error,
    )


def history(
    loaded: LoadedConfig,
    environment: str | None = None,
    limit: int = 50,
    filters: HistoryFilter | None = None,
) -> list[DeploymentRecord]:
    from safeship.registry import Registry

    if environment is not None:
        open_environment(loaded, environment)  # an unknown environment is an error, not []
    with Registry(loaded.registry_url()) as registry:
        return registry.history(environment, limit=limit, filters=filters)


def up(loaded: LoadedConfig, environment: str) -> None:
    """Start the environment's router (it serves 503 until a release is deployed)."""
    open_environment(loaded, environment).router.ensure_running()


def down(loaded: LoadedConfig, environment: str) -> int:
    """Stop the router and every release of the environment; the number of processes stopped."""
    from safeship.pipeline.lease import DeployLease
    from safeship.registry import Registry

    env = open_environment(loaded, environment)
    with Registry(loaded.registry_url()) as registry, DeployLease(registry, environment):
        stopped = 0
        if env.router.is_running():
            env.router.stop()
            stopped += 1
        releases = env.target.releases()
        env.target.down()
        return stopped + len(releases)


def _running(releases: list[Release], version: str | None) -> Release | None:
    return next((r for r in releases if r.version == version), None) if version else None

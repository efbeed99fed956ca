"""One version through the chain of environments (`safeship release`), resumable.

The chain is the environments' ``requires``: a release deploys each environment after the
ones it requires (a topological order, ties in the order of safeship.toml), ending at the
target (``--to``; default: every environment no other one requires, i.e. the whole chain).
Each step is an ordinary deploy, with all of that environment's gates (approval waits there):
this module walks the steps and keeps the release's record; the deploy itself is the caller's
(the core's, which adds what follows a deploy), given as ``deploy``.

The record is written ahead of each step (``registry.releases``): a step says ``deploying``
before its deploy starts and names its deployment as soon as that row exists. Resuming reads
it back: a step whose deployment succeeded is done; one whose deployment is still open (its
safeship died) is recovered, then deployed again; one that failed ends the release failed
unless ``retry`` asks to deploy it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeship.pipeline.lease import holder_is_dead, this_holder
from safeship.redaction import redact
from safeship.registry.errors import first_line
from safeship.registry.records import TERMINAL_STATUSES

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.registry import DeploymentRecord, Registry
    from safeship.registry.gate_rows import ReleaseRecord, ReleaseStepRecord

RUNNING = "running"
# What a resume may pick up: a release not finished, or finished by a failed (or aborted)
# step that `--retry` deploys again.
RESUMABLE = ("running", "failed", "aborted")


class ReleaseRefused(Exception):
    """Nothing to release or resume as asked (nothing changed). The message is one line."""


@dataclass(frozen=True)
class StepDeployed:
    """How one step's deploy ended."""

    ok: bool
    status: str | None  # the deployment's final status (failed, rolled_back, aborted, ...)
    reason: str | None
    deployment_id: str | None


# deploy(environment, on_created): deploy the release's version to the environment, calling
# on_created(deployment_id) once the deployment's row exists. Ctrl-C leaves as the deploy's
# own Interrupted (a KeyboardInterrupt carrying ``outcome``).
DeployStep = Callable[[str, Callable[[str], None]], StepDeployed]
# recover(environment): close a deployment a dead safeship left open (traffic back to stable).
RecoverStep = Callable[[str], None]


@dataclass(frozen=True)
class StepNotice:
    """What a release tells its face as it walks: ``what`` is skipped (done already),
    recovered (an open deployment closed first), deploying, or the step's end (succeeded,
    failed, aborted, interrupted)."""

    release_id: int
    position: int
    count: int
    environment: str
    what: str
    deployment_id: str | None = None
    reason: str | None = None


OnStep = Callable[[StepNotice], None]


def chain_order(requires: Mapping[str, Sequence[str]], target: str | None) -> list[str]:
    """The environments a release deploys, each after the ones it requires (``requires``:
    each environment's, in safeship.toml's order): ``target`` and its required ancestors, or
    (None) every environment. safeship.toml's check already refused unknown names and
    cycles."""
    wanted = list(requires) if target is None else [target]
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for required in requires[name]:
            visit(required)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def start(
    registry: Registry,
    environments: Mapping[str, EnvironmentSettings],
    version: str,
    *,
    commit: str | None,
    target: str | None,
    triggered_by: str,
) -> ReleaseRecord:
    """A new release of ``version``, its steps pending (ReleaseBusy while one of the version
    runs under a living safeship)."""
    return registry.start_release(
        version,
        commit,
        target,
        chain_order({name: env.requires for name, env in environments.items()}, target),
        triggered_by=triggered_by,
        holder=this_holder(),
        holder_is_dead=holder_is_dead,
    )


def take_over(registry: Registry, release_id: int | None, *, retry: bool) -> ReleaseRecord:
    """The release to resume (``release_id``, else the newest unfinished one), now walked by
    this process. A release that ended failed or aborted is resumed only with ``retry``."""
    if release_id is None:
        newest = registry.releases(limit=1, statuses=RESUMABLE)
        found = newest[0] if newest else None
    else:
        found = registry.release(release_id)
    if found is None:
        missing = f"release {release_id}" if release_id else "unfinished release to resume"
        raise ReleaseRefused(f"no {missing}")
    if found.status == "succeeded":
        raise ReleaseRefused(f"release {found.id} of {found.version} succeeded already")
    if found.status != RUNNING and not retry:
        raise ReleaseRefused(
            f"release {found.id} of {found.version} {found.status}: {found.reason or 'no reason'}"
            " (--retry deploys the step again)"
        )
    return registry.take_over_release(found.id, holder=this_holder(), holder_is_dead=holder_is_dead)


# The rules a rollback names when the deploy stopped for want of its orchestrator (Ctrl-C,
# an error in safeship itself), not because the version misbehaved.
_NOT_THE_VERSION = (None, "interrupted", "error")


def _failed_by_itself(deployment: DeploymentRecord) -> bool:
    """The deployment ended by its own verdict (it failed, or a rule rolled it back), as
    opposed to being closed because its safeship stopped (aborted, or rolled back by a
    recovery or an interruption): deploying it again would only repeat the failure."""
    if deployment.status == "failed":
        return True
    return deployment.status == "rolled_back" and deployment.rollback_rule not in _NOT_THE_VERSION


@dataclass
class Walk:
    """Walks one release's steps in order, keeping its record."""

    registry: Registry
    release: ReleaseRecord
    deploy: DeployStep
    recover: RecoverStep
    retry: bool = False
    on_step: OnStep | None = None

    def run(self) -> ReleaseRecord:
        """Each step not done yet, in order; the release's record as it ended (or stopped:
        Ctrl-C leaves it running, and the exception goes on)."""
        for step in self.release.steps:
            stop = self.step(step)
            if stop is not None:
                status, reason = stop
                self.registry.finish_release(self.release.id, status, reason)
                return self.reread()
        self.registry.finish_release(self.release.id, "succeeded")
        return self.reread()

    def reread(self) -> ReleaseRecord:
        record = self.registry.release(self.release.id)
        assert record is not None, "a release row is never deleted while it is walked"
        return record

    def step(self, step: ReleaseStepRecord) -> tuple[str, str] | None:
        """Bring one step to success; (the release's status, why) when it stops there."""
        environment = step.environment
        if step.status == "succeeded":
            self.tell(step, "skipped", step.deployment_id, "succeeded already")
            return None
        if step.status in ("failed", "aborted") and not self.retry:
            return step.status, f"{environment}: {step.reason or step.status}"
        if step.status == "deploying":
            # Its safeship died during the deploy: what became of the deployment decides.
            deployment = self.deployment_of(step)
            if deployment is not None:
                if deployment.status == "succeeded":
                    self.finish_step(step, "succeeded", deployment.id)
                    return None
                if deployment.status not in TERMINAL_STATUSES:
                    self.recover(environment)
                    self.tell(step, "recovered", deployment.id, "its safeship stopped mid-deploy")
                elif _failed_by_itself(deployment) and not self.retry:
                    reason = redact(deployment.rollback_reason or "failed")
                    self.finish_step(step, "failed", deployment.id, reason)
                    return "failed", f"{environment}: {reason}"
        serving = self.registry.last_succeeded(environment)
        if serving is not None and self.serves_this(serving):
            self.registry.update_release_step(
                self.release.id, step.position, status="deploying", started=True
            )
            self.finish_step(step, "succeeded", serving.id, "already serving", told="skipped")
            return None
        return self.deploy_step(step)

    def deploy_step(self, step: ReleaseStepRecord) -> tuple[str, str] | None:
        release_id, position, environment = self.release.id, step.position, step.environment
        # Write-ahead: the step says it is deploying before the deploy starts.
        self.registry.update_release_step(release_id, position, status="deploying", started=True)
        self.tell(step, "deploying")

        def created(deployment_id: str) -> None:
            self.registry.update_release_step(release_id, position, deployment_id=deployment_id)

        try:
            deployed = self.deploy(environment, created)
        except KeyboardInterrupt as stopped:
            # The deploy's own handling has ended its deployment; the release stays running,
            # to be resumed.
            outcome = getattr(stopped, "outcome", None)
            deployment_id = getattr(outcome, "deployment_id", None) or None
            self.finish_step(step, "interrupted", deployment_id, "interrupted")
            raise
        except Exception as exc:  # refused before it started: a busy environment, bad config
            reason = redact(first_line(exc))
            self.finish_step(step, "failed", None, reason)
            self.registry.finish_release(release_id, "failed", f"{environment}: {reason}")
            raise
        if deployed.ok:
            self.finish_step(step, "succeeded", deployed.deployment_id)
            return None
        status = "aborted" if deployed.status == "aborted" else "failed"
        reason = redact(deployed.reason or deployed.status or status)
        self.finish_step(step, status, deployed.deployment_id, reason)
        return status, f"{environment}: {reason}"

    def deployment_of(self, step: ReleaseStepRecord) -> DeploymentRecord | None:
        """The step's deployment: as recorded, else the newest of its environment and version
        since the step started (killed between the deployment's row and the step's)."""
        from safeship.registry.deployments import HistoryFilter

        if step.deployment_id is not None:
            return self.registry.get(step.deployment_id)
        if step.started_at is None:
            return None
        found = self.registry.history(
            step.environment,
            limit=1,
            filters=HistoryFilter(version=self.release.version, since=step.started_at),
        )
        return found[0] if found else None

    def serves_this(self, serving: DeploymentRecord) -> bool:
        """The environment's serving deployment is this release's version (and commit)."""
        commit = self.release.commit_sha
        return serving.version == self.release.version and (
            commit is None or serving.commit_sha == commit
        )

    def finish_step(
        self,
        step: ReleaseStepRecord,
        status: str,
        deployment_id: str | None,
        reason: str | None = None,
        *,
        told: str | None = None,
    ) -> None:
        """Record the step's end; tell the face (``told``: what to say, default the status)."""
        self.registry.update_release_step(
            self.release.id,
            step.position,
            status=status,
            deployment_id=deployment_id,
            reason=reason,
            finished=True,
        )
        self.tell(step, told or status, deployment_id, reason)

    def tell(
        self,
        step: ReleaseStepRecord,
        what: str,
        deployment_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        if self.on_step is not None:
            self.on_step(
                StepNotice(
                    self.release.id,
                    step.position,
                    len(self.release.steps),
                    step.environment,
                    what,
                    deployment_id,
                    reason,
                )
            )

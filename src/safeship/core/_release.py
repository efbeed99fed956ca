"""Releases: one version through the chain of environments, each step the core's own deploy
(its gates, its approval wait, and what follows a deploy), resumable after a crash or Ctrl-C.

The walk and its record are the pipeline's (:mod:`safeship.pipeline.release`); this module
gives it the core's deploy and recover, and hands typed records to the faces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from safeship.core._records import DeployRequest

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.core._deployments import ProgressCallback
    from safeship.pipeline.deploy import LiveSnapshot
    from safeship.pipeline.release import StepDeployed, StepNotice
    from safeship.registry import Registry
    from safeship.registry.gate_rows import ReleaseRecord


@dataclass(frozen=True)
class ReleaseRequest:
    version: str
    commit: str | None = None
    target: str | None = None  # the environment it ends at; None: the whole chain
    triggered_by: str = "cli"


@dataclass(frozen=True)
class ReleaseStepSummary:
    position: int
    environment: str
    # pending, deploying, succeeded, failed, aborted, interrupted
    status: str
    deployment_id: str | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ReleaseSummary:
    id: int
    version: str
    commit: str | None
    target: str | None
    status: str  # running, succeeded, failed, aborted
    reason: str | None
    triggered_by: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[ReleaseStepSummary, ...]

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class ReleaseNotice:
    """A step's news while a release walks: ``what`` is skipped (done already, or the
    environment serves the version already), recovered (a deployment a dead safeship left
    open was closed first), deploying, or how the step ended (succeeded, failed, aborted,
    interrupted)."""

    release_id: int
    position: int
    count: int
    environment: str
    what: str
    deployment_id: str | None
    reason: str | None


NoticeCallback = Callable[[ReleaseNotice], None]


def release(
    loaded: LoadedConfig,
    request: ReleaseRequest,
    *,
    on_notice: NoticeCallback | None = None,
    on_progress: ProgressCallback | None = None,
    event_log: TextIO | None = None,
) -> ReleaseSummary:
    """Deploy ``request.version`` to each environment of the chain in order; the release as it
    ended. Refused (ReleaseBusy) while a release of the version runs under a living safeship.
    Ctrl-C: the deploy's Interrupted goes on, the release stays resumable."""
    from safeship.pipeline import release as walk
    from safeship.registry import Registry

    if request.target is not None:
        loaded.environment(request.target)  # an unknown environment is the config's error
    with Registry(loaded.registry_url()) as registry:
        record = walk.start(
            registry,
            loaded.config.environments,
            request.version,
            commit=request.commit,
            target=request.target,
            triggered_by=request.triggered_by,
        )
        return _walk(loaded, registry, record, False, on_notice, on_progress, event_log)


def resume_release(
    loaded: LoadedConfig,
    *,
    release_id: int | None = None,
    retry: bool = False,
    on_notice: NoticeCallback | None = None,
    on_progress: ProgressCallback | None = None,
    event_log: TextIO | None = None,
) -> ReleaseSummary:
    """Continue ``release_id`` (default: the newest unfinished release) from its record: done
    steps are skipped, a deployment left open is recovered and deployed again; a failed step
    is deployed again only with ``retry`` (ReleaseRefused otherwise)."""
    from safeship.pipeline import release as walk
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        record = walk.take_over(registry, release_id, retry=retry)
        return _walk(loaded, registry, record, retry, on_notice, on_progress, event_log)


def releases(loaded: LoadedConfig, *, limit: int = 20) -> list[ReleaseSummary]:
    """Releases with their steps, newest first."""
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        return [release_summary(r) for r in registry.releases(limit=limit)]


def _walk(
    loaded: LoadedConfig,
    registry: Registry,
    record: ReleaseRecord,
    retry: bool,
    on_notice: NoticeCallback | None,
    on_progress: ProgressCallback | None,
    event_log: TextIO | None,
) -> ReleaseSummary:
    from safeship.core._deployments import deploy, recover
    from safeship.pipeline.release import StepDeployed, Walk

    def deploy_step(environment: str, created: Callable[[str], None]) -> StepDeployed:
        progress: ProgressCallback | None = None
        if on_progress is not None:
            face = on_progress
            recorded: set[str] = set()

            def progress(snapshot: LiveSnapshot) -> None:
                # The first snapshot comes once the deployment's row exists: the step names it
                # at once. Without a live view the snapshots are not made (each asks the router
                # for its weights); the walk then finds the deployment by the step's start.
                if snapshot.deployment_id and snapshot.deployment_id not in recorded:
                    recorded.add(snapshot.deployment_id)
                    created(snapshot.deployment_id)
                face(snapshot)

        request = DeployRequest(environment, record.version, record.commit_sha, record.triggered_by)
        result = deploy(loaded, request, on_progress=progress, event_log=event_log)
        return StepDeployed(result.ok, result.status, result.reason, result.deployment_id)

    def told(notice: StepNotice) -> None:
        if on_notice is not None:
            on_notice(
                ReleaseNotice(
                    notice.release_id,
                    notice.position,
                    notice.count,
                    notice.environment,
                    notice.what,
                    notice.deployment_id,
                    notice.reason,
                )
            )

    def recover_step(environment: str) -> None:
        recover(loaded, environment)

    walked = Walk(registry, record, deploy_step, recover_step, retry, told)
    return release_summary(walked.run())


def release_summary(record: ReleaseRecord) -> ReleaseSummary:
    return ReleaseSummary(
        id=record.id,
        version=record.version,
        commit=record.commit_sha,
        target=record.target,
        status=record.status,
        reason=record.reason,
        triggered_by=record.triggered_by,
        holder=record.holder,
        started_at=record.started_at,
        finished_at=record.finished_at,
        steps=tuple(
            ReleaseStepSummary(
                s.position,
                s.environment,
                s.status,
                s.deployment_id,
                s.reason,
                s.started_at,
                s.finished_at,
            )
            for s in record.steps
        ),
    )

"""The railway target: deploy through Railway's public GraphQL API.

API reference: https://docs.railway.com/reference/public-api and the guides under
https://docs.railway.com/guides/public-api (deployments, variables, rate limits).

Decisions:

- A deploy follows the deployment id that ``serviceInstanceDeployV2`` returned, never "the
  latest deployment": another push may start one meanwhile.
- ``RailwayClient.wait`` (safeship.railway.client) raises ``RailwayDeployFailed`` for FAILED
  and CRASHED, quoting the last build and deploy log lines. ``RailwayTarget.deploy`` (the
  pipeline's target) then rolls back to the previous successful deployment before it raises:
  a crashed deployment may already have replaced the good one, and the pipeline has no release
  to stop. Its one-line reason names the status, the deployment rolled back to, then the log
  tail (in that order: GitHub keeps 140 characters).
- Rollback goes to the newest SUCCESS deployment other than the current one, with
  ``deploymentRollback`` (Railway redeploys that deployment's image).
- ``stop(release)`` means "take this release out of service", which on Railway is a rollback to
  the deployment before it; removing it would leave nothing serving. A release that a newer
  deployment already replaced needs nothing (Railway stopped it). ``down()`` removes.
- ``is_alive`` is polled every 0.1 s by the pipeline's bake loop: Railway's answer is cached
  for ``poll_interval`` seconds.
- The release's URL (health checks) is ``public_url`` from the settings, else the deployment's
  Railway domain (staticUrl) over https.
- Which version each deployment runs is kept in ``state_dir/railway-target.json``; Railway
  only knows deployment ids.
- Railway checks health only at deploy time; safeship's monitoring window covers after it.
- Railway runs one deployment of a service at a time: ``releases()`` is the newest SUCCESS one.
- A mutation is never sent twice; after an ambiguous failure the client reconciles (see
  safeship.railway.client).
- Roll back only what took over. Railway's docs: a FAILED deployment stopped during its build
  or deploy and never became Active (the serving one is not replaced); a CRASHED one was Active
  and then crashed. So FAILED rolls back only when the deployment that served before is no
  longer up; CRASHED always rolls back.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from safeship._files import write_private_json
from safeship.httpapi import notice_to_stderr, one_line
from safeship.railway.client import RailwayClient, RailwayDeployFailed, read_token
from safeship.railway.deployments import UP, Deployment
from safeship.targets.base import HostedRelease, Release, TargetDefaults, TargetError
from safeship.targets.settings import RailwayTargetSettings


@dataclass(frozen=True)
class RailwayRelease(HostedRelease):
    """A Railway deployment as a release: no local port or pid."""

    deployment_id: str = ""


class RailwayTarget(TargetDefaults):
    """The Target port on Railway, as far as Railway allows (no local port or pid; one
    deployment of the service serves at a time)."""

    routes_itself: ClassVar[bool] = True

    def __init__(
        self,
        environment: str,
        settings: RailwayTargetSettings,
        state_dir: Path | None = None,
        base_dir: Path | None = None,
        *,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        notice: Callable[[str], None] | None = notice_to_stderr,
    ) -> None:
        self.environment = environment
        self.settings = settings
        # ``notice``: where a reconcile's one line goes (after an ambiguous failure).
        self.client = RailwayClient(
            settings, token or read_token(settings), sleep=sleep, notice=notice
        )
        self.last_deployment_id: str | None = None
        self.state_path = state_dir / "railway-target.json" if state_dir is not None else None
        self._clock = clock
        # deployment id -> (when asked, alive): is_alive asks Railway once per poll_interval.
        self._alive: dict[str, tuple[float, bool]] = {}

    # -- which version each deployment runs ------------------------------------------------

    def _versions(self) -> dict[str, str]:
        if self.state_path is None:
            return {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or unreadable: deployment ids stand in
            return {}
        versions = data.get("versions") if isinstance(data, dict) else None
        return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {}

    def _remember(self, deployment_id: str, version: str) -> None:
        if self.state_path is None:
            return
        # Bounded: the newest 50 deployments are all that releases() and rollback look at.
        versions = {**self._versions(), deployment_id: version}
        kept = dict(list(versions.items())[-50:])
        with contextlib.suppress(OSError):  # a lost note only shows ids instead of versions
            write_private_json(self.state_path, {"versions": kept})

    def _release(self, version: str, deployment: Deployment) -> RailwayRelease:
        return RailwayRelease(
            environment=self.environment,
            version=version,
            port=0,
            pid=None,
            started_at=time.time(),
            deployment_id=deployment.id,
            public_url=self.settings.public_url or deployment.static_url,
        )

    # -- the Target port -------------------------------------------------------------------

    def deploy(self, version: str, commit: str | None = None) -> RailwayRelease:
        """Trigger a deployment and follow that one to SUCCESS. If it ends FAILED or CRASHED,
        roll back what took over (see the module's notes) and raise RailwayDeployFailed naming
        the status, what happened to the serving deployment and the log tail."""
        # Listed first: which deployment serves now (did the new one replace it?), and the ids
        # that existed before the request (which deployment is the request's, if its answer
        # is lost).
        listed = self.client.deployments()
        serving_before = next((d for d in listed if d.status in UP), None)
        ran_before = {d for d, v in self._versions().items() if v == version}
        earlier = next(
            (d for d in listed if d.id in ran_before and d.status in UP | {"REMOVED"}), None
        )
        if earlier is not None:
            # Railway keeps earlier deployments' images: a version it ran before is redeployed
            # from its image, not rebuilt from what the service's source holds now (which is
            # what `safeship rollback` to that version needs).
            redeployed = self._redeploy(earlier, listed)
            if redeployed is None:
                raise TargetError(
                    f"railway: deploymentRollback to {earlier.id} ({version}) started no deployment"
                )
            deployment_id = redeployed
        else:
            deployment_id = self.client.deploy(commit, known=listed)
        self.last_deployment_id = deployment_id
        self._remember(deployment_id, version)
        try:
            deployment = self.client.wait(deployment_id)
        except RailwayDeployFailed as failed:
            back = self._after_failure(failed, serving_before)
            raise RailwayDeployFailed(
                one_line(
                    f"railway: deployment {deployment_id} ended {failed.status}; {back}; "
                    f"logs: {failed.tail or 'none'}",
                    600,
                ),
                deployment_id,
                failed.status,
                failed.tail,
            ) from None
        release = self._release(version, deployment)
        if not release.url:
            back = self._roll_back_after(deployment_id)
            raise TargetError(
                f"railway: deployment {deployment_id} has no public URL to check (give the "
                f"service a Railway domain or set public_url); {back}"
            )
        return release

    def _after_failure(self, failed: RailwayDeployFailed, serving_before: Deployment | None) -> str:
        """Roll back a failed deployment only if it took over; what happened, for the reason.

        CRASHED: it was Active, then crashed (Railway's docs), so it replaced the serving one.
        FAILED: its build or deploy stopped before it became Active; the deployment that served
        before still serves, unless Railway shows it is no longer up.
        """
        if failed.status != "CRASHED":
            if serving_before is None:
                return "not rolled back: it never served, and nothing served before it"
            try:
                still_up = self.client.deployment(serving_before.id).status in UP
            except TargetError:
                still_up = False  # cannot tell: put the previous one back to be sure
            if still_up:
                version = self._versions().get(serving_before.id)
                named = serving_before.id + (f" ({version})" if version else "")
                return f"not rolled back: it never replaced {named}, which still serves"
        return self._roll_back_after(failed.deployment_id)

    def _redeploy(self, deployment: Deployment, listed: list[Deployment]) -> str | None:
        """deploymentRollback to ``deployment``; the id of the deployment Railway started for
        it (None when none shows in the list). ``listed``: the deployments before."""
        started = self.client.rollback(deployment.id, known=listed)
        self._note_started(deployment, started)
        return started

    def _note_started(self, deployment: Deployment, started: str | None) -> None:
        """A rollback to ``deployment`` started ``started``: it runs the same version, noted for
        releases()."""
        version = self._versions().get(deployment.id)
        if started is not None and version is not None:
            self._remember(started, version)

    def _roll_back_after(self, failed_id: str) -> str:
        """Roll back past ``failed_id``; what happened, for the error's reason."""
        try:
            previous = self.rollback(failed_id)
        except TargetError as exc:
            return f"not rolled back ({str(exc).removeprefix('railway: ')})"
        version = self._versions().get(previous)
        return f"rolled back to {previous}" + (f" ({version})" if version else "")

    def is_alive(self, release: Release) -> bool:
        """Whether the release's deployment is up (SUCCESS or SLEEPING); asks Railway at most
        once per ``poll_interval`` per deployment."""
        if not isinstance(release, RailwayRelease) or not release.deployment_id:
            return False
        deployment_id = release.deployment_id
        now = self._clock()
        cached = self._alive.get(deployment_id)
        if cached is not None and now - cached[0] < self.settings.poll_interval:
            return cached[1]
        alive = self.client.deployment(deployment_id).status in UP
        self._alive[deployment_id] = (now, alive)
        return alive

    def stop(self, release: Release) -> None:
        """Take the release out of service: roll back to the deployment before it. Nothing to
        do when a newer deployment replaced it already; with nothing to go back to, remove it."""
        if not isinstance(release, RailwayRelease) or not release.deployment_id:
            return
        deployment_id = release.deployment_id
        for deployment in self.client.deployments():
            if deployment.id == deployment_id:
                break
            if deployment.status in UP:
                return  # a newer deployment serves: Railway stopped this one
        else:
            return  # not among the recent deployments: long replaced
        self._alive.pop(deployment_id, None)
        if self.previous_successful(deployment_id) is None:
            self.client.remove(deployment_id)
            return
        self.rollback(deployment_id)

    def releases(self) -> list[Release]:
        versions = self._versions()
        for deployment in self.client.deployments():
            if deployment.status in UP:
                return [self._release(versions.get(deployment.id, deployment.id), deployment)]
        return []

    def down(self) -> None:
        """Remove the serving deployment (`safeship down`: nothing of it keeps running)."""
        for deployment in self.client.deployments():
            if deployment.status in UP:
                self.client.remove(deployment.id)

    def variables(self) -> dict[str, str]:
        return self.client.variables()

    def upsert_variables(self, values: dict[str, str], *, skip_deploys: bool = True) -> None:
        self.client.upsert_variables(values, skip_deploys=skip_deploys)

    def set_variable(self, name: str, value: str) -> None:
        """The service's variable, for the deployments started from now on (a secret
        rotation's new value): an upsert that deploys nothing by itself, since the rotation's
        own deploy follows and is the one its verification judges."""
        self.upsert_variables({name: value}, skip_deploys=True)

    def previous_successful(
        self, exclude: str | None, deployments: list[Deployment] | None = None
    ) -> Deployment | None:
        """The deployment to roll back to: the newest SUCCESS one other than ``exclude``, else
        the newest REMOVED one (a deployment shows as REMOVED once a newer one replaced it;
        failed builds stay FAILED, so REMOVED ones once served)."""
        listed = self.client.deployments() if deployments is None else deployments
        candidates = [d for d in listed if d.id != exclude]
        for wanted in (UP, frozenset({"REMOVED"})):
            for deployment in candidates:
                if deployment.status in wanted:
                    return deployment
        return None

    def rollback(self, failed_deployment_id: str | None = None) -> str:
        """Roll back to the previous successful deployment with deploymentRollback; its id.
        ``failed_deployment_id`` (default: the last one this target triggered) is never chosen."""
        exclude = failed_deployment_id or self.last_deployment_id
        listed = self.client.deployments()
        previous = self.previous_successful(exclude, listed)
        if previous is None:
            raise TargetError(
                f"railway: no earlier successful deployment to roll back to in {self.environment}"
            )
        self._note_started(previous, self.client.rollback(previous.id, known=listed))
        return previous.id

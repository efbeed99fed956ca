"""The railway target: deploy through Railway's public GraphQL API.

API reference: https://docs.railway.com/reference/public-api and the guides under
https://docs.railway.com/guides/public-api (deployments, variables, rate limits).

Decisions:

- A deploy follows the deployment id that ``serviceInstanceDeployV2`` returned, never "the
  latest deployment": another push may start one meanwhile.
- The client (``RailwayClient.wait``) raises ``RailwayDeployFailed`` for FAILED and CRASHED,
  quoting the last build and deploy log lines, so a failed platform build is never silent.
  ``RailwayTarget.deploy`` (the pipeline's target) then rolls back to the previous successful
  deployment before it raises: a crashed deployment may already have replaced the good one,
  and the pipeline has no release to stop. Its one-line reason names the status, the
  deployment rolled back to, then the log tail (in that order: GitHub keeps 140 characters).
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
- Mutations are not retried after a timeout or a 5xx (see safeship.httpapi).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line
from safeship.routing.proxy import write_json_atomic
from safeship.targets.base import HostedRelease, Release, TargetError
from safeship.targets.settings import RailwayConnection, RailwayTargetSettings

IN_PROGRESS = frozenset(
    {"BUILDING", "DEPLOYING", "INITIALIZING", "QUEUED", "WAITING", "NEEDS_APPROVAL"}
)
FAILED = frozenset({"FAILED", "CRASHED"})
GONE = frozenset({"REMOVED", "REMOVING", "SKIPPED"})
UP = frozenset({"SUCCESS", "SLEEPING"})

DEPLOY = """mutation serviceInstanceDeployV2($serviceId: String!, $environmentId: String!, \
$commitSha: String) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId, \
commitSha: $commitSha)
}"""
DEPLOYMENT = """query deployment($id: String!) {
  deployment(id: $id) { id status createdAt staticUrl }
}"""
DEPLOYMENTS = """query deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges { node { id status createdAt staticUrl } }
  }
}"""
ROLLBACK = """mutation deploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}"""
REMOVE = """mutation deploymentRemove($id: String!) {
  deploymentRemove(id: $id)
}"""
BUILD_LOGS = """query buildLogs($deploymentId: String!, $limit: Int) {
  buildLogs(deploymentId: $deploymentId, limit: $limit) { message timestamp severity }
}"""
DEPLOYMENT_LOGS = """query deploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { message timestamp severity }
}"""
VARIABLES = """query variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}"""
UPSERT_VARIABLES = """mutation variableCollectionUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}"""


class RailwayDeployFailed(TargetError):
    """A deployment ended FAILED or CRASHED (or was removed); the message quotes its logs."""

    def __init__(self, message: str, deployment_id: str, status: str, tail: str = "") -> None:
        super().__init__(message)
        self.deployment_id = deployment_id
        self.status = status
        self.tail = tail  # the quoted log lines, " | "-joined


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str
    created_at: str = ""
    static_url: str | None = None


@dataclass(frozen=True)
class RailwayRelease(HostedRelease):
    """A Railway deployment as a release: no local port or pid."""

    deployment_id: str = ""


def read_token(settings: RailwayConnection) -> str:
    token = os.environ.get(settings.token_env, "").strip()
    if not token:
        raise TargetError(f"railway: {settings.token_env} is not set (the Railway API token)")
    return token


def _deployment(node: Any) -> Deployment:
    if not isinstance(node, dict) or not isinstance(node.get("id"), str):
        raise TargetError("railway: malformed answer: a deployment without an id")
    url = node.get("staticUrl")
    return Deployment(
        id=node["id"],
        status=str(node.get("status", "")),
        created_at=str(node.get("createdAt") or ""),
        static_url=f"https://{url}" if isinstance(url, str) and url else None,
    )


class RailwayClient:
    """Railway's GraphQL API for one service. Every failure is a one-line TargetError."""

    def __init__(
        self,
        settings: RailwayConnection,
        token: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        if settings.token_kind == "project":
            headers = {"Project-Access-Token": token}
        else:
            headers = {"Authorization": f"Bearer {token}"}
        headers["Content-Type"] = "application/json"
        self._api = JsonApi(
            "railway",
            headers,
            timeout=settings.request_timeout,
            retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
            secrets=[token],
            sleep=sleep,
        )
        self._sleep = sleep

    def close(self) -> None:
        self._api.close()

    def graphql(self, query: str, variables: dict[str, Any], *, mutation: bool = False) -> Any:
        """The ``data`` of one operation; TargetError on any error (GraphQL errors included)."""
        name = query.split("(", 1)[0].split()[-1]
        try:
            _, body = self._api.request(
                "POST",
                self.settings.endpoint,
                json={"query": query, "variables": variables, "operationName": name},
                idempotent=not mutation,
            )
        except ApiError as exc:
            raise TargetError(f"{exc} ({name})") from None
        if not isinstance(body, dict):
            raise TargetError(f"railway: malformed answer to {name}: not a JSON object")
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) else errors
            message = first.get("message", "") if isinstance(first, dict) else str(first)
            if "not authorized" in str(message).lower():
                raise TargetError(
                    one_line(
                        f"railway: the token in {self.settings.token_env} was rejected "
                        f"({message}) ({name})"
                    )
                )
            raise TargetError(one_line(f"railway: {name} failed: {message}"))
        data = body.get("data")
        if not isinstance(data, dict) or name not in data:
            raise TargetError(f"railway: malformed answer to {name}: no data.{name}")
        return data[name]

    # -- operations ------------------------------------------------------------------------

    def deploy(self, commit: str | None = None) -> str:
        s = self.settings
        variables: dict[str, Any] = {"serviceId": s.service_id, "environmentId": s.environment_id}
        if commit:
            variables["commitSha"] = commit
        result = self.graphql(DEPLOY, variables, mutation=True)
        if not isinstance(result, str) or not result:
            raise TargetError("railway: malformed answer to serviceInstanceDeployV2: no id")
        return result

    def deployment(self, deployment_id: str) -> Deployment:
        node = self.graphql(DEPLOYMENT, {"id": deployment_id})
        if node is None:
            raise TargetError(f"railway: no deployment {deployment_id}")
        return _deployment(node)

    def deployments(self, first: int = 20) -> list[Deployment]:
        s = self.settings
        result = self.graphql(
            DEPLOYMENTS,
            {
                "input": {
                    "projectId": s.project_id,
                    "environmentId": s.environment_id,
                    "serviceId": s.service_id,
                },
                "first": first,
            },
        )
        edges = result.get("edges") if isinstance(result, dict) else None
        if not isinstance(edges, list):
            raise TargetError("railway: malformed answer to deployments: no edges")
        return [_deployment(edge.get("node") if isinstance(edge, dict) else None) for edge in edges]

    def logs(self, deployment_id: str, limit: int) -> list[str]:
        """The last ``limit`` build log lines, then the last ``limit`` deploy log lines."""
        lines: list[str] = []
        for query in (BUILD_LOGS, DEPLOYMENT_LOGS):
            try:
                entries = self.graphql(query, {"deploymentId": deployment_id, "limit": limit})
            except TargetError:
                continue  # the logs only explain a failure; their absence must not hide it
            if isinstance(entries, list):
                lines += [
                    str(e.get("message", "")).strip()
                    for e in entries[-limit:]
                    if isinstance(e, dict) and str(e.get("message", "")).strip()
                ]
        return lines

    def rollback(self, deployment_id: str) -> None:
        if self.graphql(ROLLBACK, {"id": deployment_id}, mutation=True) is not True:
            raise TargetError(f"railway: deploymentRollback of {deployment_id} was refused")

    def remove(self, deployment_id: str) -> None:
        if self.graphql(REMOVE, {"id": deployment_id}, mutation=True) is not True:
            raise TargetError(f"railway: deploymentRemove of {deployment_id} was refused")

    def variables(self) -> dict[str, str]:
        s = self.settings
        result = self.graphql(
            VARIABLES,
            {
                "projectId": s.project_id,
                "environmentId": s.environment_id,
                "serviceId": s.service_id,
            },
        )
        if not isinstance(result, dict):
            raise TargetError("railway: malformed answer to variables: not an object")
        return {str(k): str(v) for k, v in result.items()}

    def upsert_variables(self, values: dict[str, str], *, skip_deploys: bool = True) -> None:
        s = self.settings
        payload = {
            "projectId": s.project_id,
            "environmentId": s.environment_id,
            "serviceId": s.service_id,
            "variables": values,
            "skipDeploys": skip_deploys,
        }
        if self.graphql(UPSERT_VARIABLES, {"input": payload}, mutation=True) is not True:
            raise TargetError("railway: variableCollectionUpsert was refused")

    def wait(self, deployment_id: str, *, timeout: float | None = None) -> Deployment:
        """Follow one deployment until it is up; RailwayDeployFailed if it fails, TargetError on
        timeout. Bounded by ``timeout`` (default: the settings' deploy_timeout)."""
        limit = self.settings.deploy_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            current = self.deployment(deployment_id)
            if current.status in UP:
                return current
            if current.status in FAILED or current.status in GONE:
                raise self._failure(current)
            if time.monotonic() >= deadline:
                raise TargetError(
                    f"railway: deployment {deployment_id} still {current.status} after {limit:g} s"
                )
            self._sleep(self.settings.poll_interval)

    def _failure(self, deployment: Deployment) -> RailwayDeployFailed:
        lines = self.logs(deployment.id, self.settings.log_lines)
        tail = " | ".join(lines[-self.settings.log_lines :]) if lines else "no log lines"
        message = one_line(
            f"railway: deployment {deployment.id} ended {deployment.status}: {tail}", 600
        )
        return RailwayDeployFailed(message, deployment.id, deployment.status, tail)


class RailwayTarget:
    """The Target port on Railway, as far as Railway allows (no local port or pid; one
    deployment of the service serves at a time)."""

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
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.client = RailwayClient(settings, token or read_token(settings), sleep=sleep)
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
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.state_path, {"versions": kept})

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
        roll back to the previous successful deployment and raise RailwayDeployFailed naming
        the status, the deployment rolled back to and the log tail."""
        ran_before = {d for d, v in self._versions().items() if v == version}
        listed = self.client.deployments() if ran_before else []
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
            deployment_id = self.client.deploy(commit)
        self.last_deployment_id = deployment_id
        self._remember(deployment_id, version)
        try:
            deployment = self.client.wait(deployment_id)
        except RailwayDeployFailed as failed:
            back = self._roll_back_after(deployment_id)
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

    def _redeploy(self, deployment: Deployment, listed: list[Deployment]) -> str | None:
        """deploymentRollback to ``deployment``; the id of the deployment Railway started for
        it (None when none shows in the list). ``listed``: the deployments before."""
        self.client.rollback(deployment.id)
        return self._started(deployment, listed)

    def _started(self, deployment: Deployment, listed: list[Deployment]) -> str | None:
        """The deployment a rollback to ``deployment`` started: the newest one not ``listed``
        before. It runs the same version, noted for releases()."""
        known = {d.id for d in listed}
        started = [d for d in self.client.deployments(first=5) if d.id not in known]
        if not started:
            return None
        version = self._versions().get(deployment.id)
        if version is not None:
            self._remember(started[0].id, version)
        return started[0].id

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
        deployment_id = getattr(release, "deployment_id", "")
        if not deployment_id:
            return False
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
        deployment_id = getattr(release, "deployment_id", "")
        if not deployment_id:
            return
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
        self.client.rollback(previous.id)
        # Which deployment Railway started is only a note for releases(): listing it may fail.
        with contextlib.suppress(TargetError):
            self._started(previous, listed)
        return previous.id

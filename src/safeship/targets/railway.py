"""The railway target: deploy through Railway's public GraphQL API.

API reference: https://docs.railway.com/reference/public-api and the guides under
https://docs.railway.com/guides/public-api (deployments, variables, rate limits).

Decisions:

- A deploy follows the deployment id that ``serviceInstanceDeployV2`` returned, never "the
  latest deployment": another push may start one meanwhile.
- FAILED and CRASHED raise ``RailwayDeployFailed`` quoting the last build and deploy log lines,
  so a failed platform build is never silent. Rolling back is the caller's decision
  (``rollback()``), since only the pipeline knows whether the failed one took traffic.
- Rollback goes to the newest SUCCESS deployment other than the current one, with
  ``deploymentRollback`` (Railway redeploys that deployment's image).
- Railway checks health only at deploy time; safeship's monitoring window covers after it.
- Railway runs one deployment of a service at a time: ``releases()`` is the newest SUCCESS one.
- Mutations are not retried after a timeout or a 5xx (see safeship.httpapi).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line
from safeship.targets.base import Release, TargetError
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

    def __init__(self, message: str, deployment_id: str, status: str) -> None:
        super().__init__(message)
        self.deployment_id = deployment_id
        self.status = status


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str
    created_at: str = ""
    static_url: str | None = None


@dataclass(frozen=True)
class RailwayRelease(Release):
    """A Railway deployment as a release: no local port or pid."""

    deployment_id: str = ""
    public_url: str | None = None

    @property
    def url(self) -> str:
        return self.public_url or ""


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
        return RailwayDeployFailed(message, deployment.id, deployment.status)


class RailwayTarget:
    """The Target port on Railway, as far as Railway allows (no local port, pid or stop of a
    single release: removing a deployment stops it)."""

    def __init__(
        self,
        environment: str,
        settings: RailwayTargetSettings,
        state_dir: Path | None = None,
        base_dir: Path | None = None,
        *,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.client = RailwayClient(settings, token or read_token(settings), sleep=sleep)
        self.last_deployment_id: str | None = None

    def _release(self, version: str, deployment: Deployment) -> RailwayRelease:
        return RailwayRelease(
            environment=self.environment,
            version=version,
            port=0,
            pid=None,
            started_at=time.time(),
            deployment_id=deployment.id,
            public_url=deployment.static_url,
        )

    def deploy(self, version: str, commit: str | None = None) -> RailwayRelease:
        """Trigger a deployment and follow that one to SUCCESS; RailwayDeployFailed if it ends
        FAILED or CRASHED (its id is kept in ``last_deployment_id`` for a rollback)."""
        deployment_id = self.client.deploy(commit)
        self.last_deployment_id = deployment_id
        return self._release(version, self.client.wait(deployment_id))

    def is_alive(self, release: Release) -> bool:
        deployment_id = getattr(release, "deployment_id", "")
        if not deployment_id:
            return False
        return self.client.deployment(deployment_id).status in UP

    def stop(self, release: Release) -> None:
        deployment_id = getattr(release, "deployment_id", "")
        if deployment_id:
            self.client.remove(deployment_id)

    def releases(self) -> list[Release]:
        for deployment in self.client.deployments():
            if deployment.status in UP:
                return [self._release(deployment.id, deployment)]
        return []

    def down(self) -> None:
        for release in self.releases():
            self.stop(release)

    def variables(self) -> dict[str, str]:
        return self.client.variables()

    def upsert_variables(self, values: dict[str, str], *, skip_deploys: bool = True) -> None:
        self.client.upsert_variables(values, skip_deploys=skip_deploys)

    def previous_successful(self, exclude: str | None) -> Deployment | None:
        """The deployment to roll back to: the newest SUCCESS one other than ``exclude``, else
        the newest REMOVED one (a deployment shows as REMOVED once a newer one replaced it;
        failed builds stay FAILED, so REMOVED ones once served)."""
        candidates = [d for d in self.client.deployments() if d.id != exclude]
        for wanted in (UP, frozenset({"REMOVED"})):
            for deployment in candidates:
                if deployment.status in wanted:
                    return deployment
        return None

    def rollback(self, failed_deployment_id: str | None = None) -> str:
        """Roll back to the previous successful deployment with deploymentRollback; its id.
        ``failed_deployment_id`` (default: the last one this target triggered) is never chosen."""
        exclude = failed_deployment_id or self.last_deployment_id
        previous = self.previous_successful(exclude)
        if previous is None:
            raise TargetError(
                f"railway: no earlier successful deployment to roll back to in {self.environment}"
            )
        self.client.rollback(previous.id)
        return previous.id

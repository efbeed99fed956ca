"""The Railway API client: one service's deployments and variables through the GraphQL API.

Every failure is a one-line TargetError (a rejected token names the variable that holds it,
never its value). A mutation is never sent twice (see safeship.httpapi): it is resent only when
it provably did not reach Railway. After an ambiguous failure (no answer, the connection
dropped, a 5xx) the client reconciles instead:

- ``serviceInstanceDeployV2`` and ``deploymentRollback``: the service's deployments are listed
  before the request; a deployment that appears after it is the request's, adopted with one
  line ("the connection dropped after serviceInstanceDeployV2 was sent; adopted deployment X
  created at T"). None within ``request_timeout``, or more than one (another deploy ran
  meanwhile): one line, nothing resent.
- ``variableCollectionUpsert``: the variables are read back; values already there confirm it;
  values missing are sent once more only with ``skipDeploys`` (setting the same values again is
  harmless, a redeploy is not).
- ``deploymentRemove``: the deployment's status is read back.

``wait`` follows one deployment and raises ``RailwayDeployFailed`` for FAILED and CRASHED,
quoting the last build and deploy log lines, so a failed platform build is never silent.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line
from safeship.railway.deployments import (
    FAILED,
    GONE,
    UP,
    Deployment,
    deployment_from_node,
)
from safeship.railway.queries import (
    BUILD_LOGS,
    DEPLOY,
    DEPLOYMENT,
    DEPLOYMENT_LOGS,
    DEPLOYMENTS,
    REMOVE,
    ROLLBACK,
    UPSERT_VARIABLES,
    VARIABLES,
)
from safeship.railway.settings import RailwayConnection
from safeship.reconcile import NotAdopted, Request, adopt_created
from safeship.targets.base import TargetError


class MaybeApplied(TargetError):
    """A mutation failed after it was sent: Railway may have carried it out (not resent).
    ``what``: how it failed ("the connection dropped", "no answer came", ...)."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what or "the request failed"


class RailwayDeployFailed(TargetError):
    """A deployment ended FAILED or CRASHED (or was removed); the message quotes its logs."""

    def __init__(self, message: str, deployment_id: str, status: str, tail: str = "") -> None:
        super().__init__(message)
        self.deployment_id = deployment_id
        self.status = status
        self.tail = tail  # the quoted log lines, " | "-joined


def read_token(settings: RailwayConnection) -> str:
    token = os.environ.get(settings.token_env, "").strip()
    if not token:
        raise TargetError(f"railway: {settings.token_env} is not set (the Railway API token)")
    return token


class RailwayClient:
    """Railway's GraphQL API for one service. Every failure is a one-line TargetError."""

    def __init__(
        self,
        settings: RailwayConnection,
        token: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        # What reconciling found after an ambiguous failure, one line each (also to ``notice``).
        self.notes: list[str] = []
        self._notice = notice
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
            if exc.maybe_applied:
                raise MaybeApplied(f"{exc} ({name})", exc.what) from None
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

    def deploy(self, commit: str | None = None, known: list[Deployment] | None = None) -> str:
        """Trigger a deployment; its id. ``known``: the service's deployments listed just before
        (listed here when not given), to find the request's deployment after an ambiguous
        failure."""
        s = self.settings
        variables: dict[str, Any] = {"serviceId": s.service_id, "environmentId": s.environment_id}
        if commit:
            variables["commitSha"] = commit
        before = self.deployments() if known is None else known
        try:
            result = self.graphql(DEPLOY, variables, mutation=True)
        except MaybeApplied as exc:
            return self.adopt("serviceInstanceDeployV2", exc, before).id
        if not isinstance(result, str) or not result:
            raise TargetError("railway: malformed answer to serviceInstanceDeployV2: no id")
        return result

    def adopt(self, operation: str, failure: MaybeApplied, before: list[Deployment]) -> Deployment:
        """After ``operation`` failed ambiguously: the one deployment that appeared since
        ``before`` was listed, adopted with a note. TargetError (one line, nothing resent) when
        none appears within ``request_timeout`` or more than one did."""
        sent = Request(
            "railway",
            operation,
            failure.what,
            noun="deployment",
            where="Railway",
            unlisted="the deployments could not be listed to see whether it was carried out",
        )
        try:
            adopted, line = adopt_created(
                sent,
                self.deployments,
                {d.id for d in before},
                listing_errors=(TargetError,),
                timeout=self.settings.request_timeout,
                interval=self.settings.poll_interval,
                sleep=self._sleep,
            )
        except NotAdopted as exc:
            raise TargetError(str(exc)) from None
        self.note(line)
        return adopted

    def note(self, line: str) -> None:
        self.notes.append(line)
        if self._notice is not None:
            self._notice(line)

    def deployment(self, deployment_id: str) -> Deployment:
        node = self.graphql(DEPLOYMENT, {"id": deployment_id})
        if node is None:
            raise TargetError(f"railway: no deployment {deployment_id}")
        return deployment_from_node(node)

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
        return [
            deployment_from_node(edge.get("node") if isinstance(edge, dict) else None)
            for edge in edges
        ]

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

    def rollback(self, deployment_id: str, known: list[Deployment] | None = None) -> str | None:
        """deploymentRollback to ``deployment_id`` (Railway starts a new deployment of its
        image); the new deployment's id when the list shows it, else None. ``known``: the
        deployments listed just before (listed here when not given)."""
        before = self.deployments() if known is None else known
        try:
            answer = self.graphql(ROLLBACK, {"id": deployment_id}, mutation=True)
        except MaybeApplied as exc:
            return self.adopt(f"deploymentRollback to {deployment_id}", exc, before).id
        if answer is not True:
            raise TargetError(f"railway: deploymentRollback of {deployment_id} was refused")
        known_ids = {d.id for d in before}
        # Which deployment Railway started is a note for releases(): listing it may fail.
        with contextlib.suppress(TargetError):
            started = [d for d in self.deployments(first=5) if d.id not in known_ids]
            return started[0].id if started else None
        return None

    def remove(self, deployment_id: str) -> None:
        try:
            answer = self.graphql(REMOVE, {"id": deployment_id}, mutation=True)
        except MaybeApplied as exc:
            # Read back rather than resend: removing is done once it shows REMOVING/REMOVED.
            status = self.deployment(deployment_id).status
            if status in GONE:
                self.note(
                    f"railway: {exc.what} after deploymentRemove was sent; {deployment_id} "
                    f"is {status}: it was carried out"
                )
                return
            raise TargetError(
                one_line(
                    f"railway: {exc.what} after deploymentRemove was sent, and "
                    f"{deployment_id} is still {status}; not resent: check Railway"
                )
            ) from None
        if answer is not True:
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
        for attempt in (1, 2):
            try:
                answer = self.graphql(UPSERT_VARIABLES, {"input": payload}, mutation=True)
            except MaybeApplied as exc:
                if self._upserted(values, exc, skip_deploys=skip_deploys, first=attempt == 1):
                    return
                continue  # the values are not there and resending cannot redeploy: once more
            if answer is not True:
                raise TargetError("railway: variableCollectionUpsert was refused")
            return

    def _upserted(
        self, values: dict[str, str], failure: MaybeApplied, *, skip_deploys: bool, first: bool
    ) -> bool:
        """After an ambiguous upsert: True when the variables read back hold ``values``; False
        when they do not and it may be sent once more (the first time, with skipDeploys); else
        TargetError."""
        why = failure.what
        try:
            current = self.variables()
        except TargetError as exc:
            raise TargetError(
                one_line(
                    f"railway: {why} after variableCollectionUpsert was sent, and the variables "
                    f"could not be read back ({str(exc).removeprefix('railway: ')}); not resent"
                )
            ) from None
        if all(current.get(key) == value for key, value in values.items()):
            self.note(
                f"railway: {why} after variableCollectionUpsert was sent; the variables read "
                "back hold the new values: it was carried out"
            )
            return True
        if skip_deploys and first:
            # skipDeploys: setting the same values again changes nothing more and starts no
            # deployment, so a second send is safe (the one case a mutation is resent).
            self.note(
                f"railway: {why} after variableCollectionUpsert was sent, and the variables do "
                "not hold the new values yet; sent once more (skipDeploys: it cannot redeploy)"
            )
            return False
        raise TargetError(
            one_line(
                f"railway: {why} after variableCollectionUpsert was sent, and the variables do "
                "not hold the new values; not resent"
                + ("" if skip_deploys else " (without skipDeploys a resend could redeploy)")
            )
        )

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

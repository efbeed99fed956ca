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
- A mutation is never sent twice (see safeship.httpapi): it is resent only when it provably
  did not reach Railway. After an ambiguous failure (no answer, the connection dropped, a 5xx)
  the client reconciles instead. ``serviceInstanceDeployV2`` and ``deploymentRollback``: the
  service's deployments are listed before the request; a deployment that appears after it is
  the request's, adopted with one line ("the connection dropped after serviceInstanceDeployV2
  was sent; adopted deployment X created at T"). None within ``request_timeout``, or more than
  one (another deploy ran meanwhile): one line, nothing resent. ``variableCollectionUpsert``:
  the variables are read back; values already there confirm it; values missing are sent once
  more only with ``skipDeploys`` (setting the same values again is harmless, a redeploy is
  not). ``deploymentRemove``: the deployment's status is read back.
- Roll back only what took over. Railway's docs: a FAILED deployment stopped during its build
  or deploy and never became Active (the serving one is not replaced); a CRASHED one was Active
  and then crashed. So FAILED rolls back only when the deployment that served before is no
  longer up; CRASHED always rolls back.
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

from safeship._files import write_private_json
from safeship.httpapi import ApiError, JsonApi, RetryPolicy, notice_to_stderr, one_line
from safeship.targets.base import HostedRelease, Release, TargetDefaults, TargetError
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
        known = {d.id for d in before}
        why = failure.what
        deadline = time.monotonic() + self.settings.request_timeout
        while True:
            try:
                new = [d for d in self.deployments() if d.id not in known]
            except TargetError as exc:
                raise TargetError(
                    one_line(
                        f"railway: {why} after {operation} was sent, and the deployments could "
                        f"not be listed to see whether it was carried out "
                        f"({str(exc).removeprefix('railway: ')}); not resent: check Railway "
                        "before trying again"
                    )
                ) from None
            if len(new) == 1:
                adopted = new[0]
                when = f" created at {adopted.created_at}" if adopted.created_at else ""
                self.note(
                    f"railway: {why} after {operation} was sent; adopted deployment "
                    f"{adopted.id}{when}"
                )
                return adopted
            if len(new) > 1:
                ids = ", ".join(d.id for d in new)
                raise TargetError(
                    one_line(
                        f"railway: {why} after {operation} was sent, and {len(new)} deployments "
                        f"appeared since ({ids}): cannot tell which is this request's; not "
                        "resent: check Railway before trying again"
                    )
                )
            if time.monotonic() >= deadline:
                raise TargetError(
                    one_line(
                        f"railway: {why} after {operation} was sent, and no new deployment "
                        f"appeared within {self.settings.request_timeout:g} s; not resent: "
                        "check Railway before trying again"
                    )
                )
            self._sleep(self.settings.poll_interval)

    def note(self, line: str) -> None:
        self.notes.append(line)
        if self._notice is not None:
            self._notice(line)

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


class RailwayTarget(TargetDefaults):
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
        self._note_started(previous, self.client.rollback(previous.id, known=listed))
        return previous.id

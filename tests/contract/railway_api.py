"""A loopback contract server for Railway's public GraphQL API (POST /graphql/v2).

Shapes written from Railway's documentation, not recorded from the live API:
- https://docs.railway.com/reference/public-api (endpoint, auth: "Authorization: Bearer" for
  account and team tokens, "Project-Access-Token" for project tokens; rate limits with
  X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset and Retry-After)
- https://docs.railway.com/guides/manage-deployments (serviceInstanceDeployV2 returning the
  deployment id, deployment(id) { id status }, deployments(input: {projectId, environmentId,
  serviceId}, first) edges/node, deploymentRollback(id), deploymentRemove(id), buildLogs and
  deploymentLogs(deploymentId, limit) { message timestamp severity })
- https://docs.railway.com/guides/manage-variables (variables(projectId, environmentId,
  serviceId) as a JSON object, variableCollectionUpsert(input: {projectId, environmentId,
  serviceId, variables, skipDeploys}) returning Boolean)
- GraphQL over HTTP (https://graphql.org/learn/serving-over-http/): errors come back with
  HTTP 200 as {"errors": [{"message": ...}]}; Railway answers "Not Authorized" for a bad token.

Checked against Railway's docs and its own CLI's queries (November 2026; the `search` tool):
- https://docs.railway.com/integrations/api/manage-deployments lists deployments with
  ``deployments(input: DeploymentListInput!, first: Int) { edges { node { id status createdAt
  url staticUrl } } }``, ``deployment(id) { id status createdAt url staticUrl ... }`` and
  ``buildLogs`` / ``deploymentLogs(deploymentId, limit) { timestamp message severity }``: the
  shapes served here. ``staticUrl`` is served as a bare domain
  (``svc-3333-production.up.railway.app``; the client prefixes https://): the docs name the
  field without an example value, so that form is an assumption.
- https://docs.railway.com/guides/manage-services: ``serviceInstanceDeployV2(serviceId,
  environmentId, commitSha)`` returns the deployment id; an unknown commitSha is the error
  "Commit not found" and no deployment is created (served here for ``unknown_commits``).
- https://docs.rs/crate/railwayapp/latest/source/src/gql/mutations/strings/
  VariableCollectionUpsert.graphql (Railway's CLI): ``variableCollectionUpsert(input:
  {projectId, environmentId, serviceId, variables, skipDeploys})``, a Boolean without
  selection; ServiceInstanceDeploy.graphql there: ``serviceInstanceDeployV2(environmentId,
  serviceId)``.
- ``deploymentRollback(id: String!): Boolean!``: not on a Railway docs page the search found;
  from third-party code quoting Railway's schema introspection. The docs' guide
  (https://docs.railway.com/guides/deployment-actions) says a rollback restores the earlier
  deployment's image and variables: served here as a new SUCCESS deployment.
- Statuses (https://docs.railway.com/cli/deployment): SUCCESS, FAILED, CRASHED ("crashed after
  starting"), BUILDING, DEPLOYING, INITIALIZING, WAITING, QUEUED, REMOVED, REMOVING.
  https://docs.railway.app/deploy/deployments: a live deployment stays SUCCESS "unless it
  crashes, at which point it will become Crashed"; older ones are then REMOVED.
- ``deploymentRemove(id: String!)`` without selection: as third-party code calls it; Railway's
  CLI has the operation (https://docs.rs/crate/railwayapp/4.27.3/source/src/gql/mutations/mod.rs
  names DeploymentRemove.graphql) but the search did not show its text.
Not verified: the exact error texts ("Not Authorized", "Service not found", "Deployment not
found"), the statuses SLEEPING, SKIPPED and NEEDS_APPROVAL the client also knows, and whether
the edge answers 502 for a crashed service; no page the search found quotes them.

Every deployment status query advances the deployment one step through its script
(BUILDING → DEPLOYING → SUCCESS, or → CRASHED when ``crash_next`` was set, or BUILDING →
FAILED when ``fail_build_next`` was set). A deployment made with ``crash_after_success`` set
turns CRASHED that many seconds after it reached SUCCESS.

Which deployment serves follows https://docs.railway.com/reference/deployments: a deployment
becomes Active (SUCCESS) and the older ones are removed; "a Deployment will remain in the
Active state unless it crashes, at which point it will become Crashed", so a CRASHED one had
taken over (the older SUCCESS one is REMOVED when it turns CRASHED here, as if it had been
SUCCESS between two polls); a FAILED one stopped during its build or deploy, and the one that
served before still serves (https://docs.railway.app/diagnose/healthchecks: a deploy whose
healthcheck never passes "will be marked as failed", traffic never switched to it).

The service itself: any GET on this server is the "public URL" of the serving deployment (the
newest SUCCESS one): 200 {"status": "healthy"} as safeship's health check expects, or 502
"Application failed to respond" (Railway's edge) when no deployment serves.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import ContractServer, Received

PROJECT = "proj-1111"
ENVIRONMENT = "env-2222"
SERVICE = "svc-3333"
ACCOUNT_TOKEN = "rw-acct-Zq8vN2kLp4Tx7Rm9Bc1Hd5Fg3Jy6Wa0E"
PROJECT_TOKEN = "rw-proj-Kd3Ls9Qw2Er7Ty5Ui1Op8As4Df6Gh0J"

_ROOT_FIELD = re.compile(r"^\s*(query|mutation)\s+(\w+)[^{]*\{\s*(\w+)", re.S)

# Required variables per root field, and whether they must name this project's ids.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "serviceInstanceDeployV2": ("serviceId", "environmentId"),
    "deployment": ("id",),
    "deployments": ("input",),
    "deploymentRollback": ("id",),
    "deploymentRemove": ("id",),
    "buildLogs": ("deploymentId",),
    "deploymentLogs": ("deploymentId",),
    "variables": ("projectId", "environmentId"),
    "variableCollectionUpsert": ("input",),
}
_MUTATIONS = {
    "serviceInstanceDeployV2",
    "deploymentRollback",
    "deploymentRemove",
    "variableCollectionUpsert",
}


@dataclass
class FakeDeployment:
    id: str
    status: str
    created_at: str
    script: list[str] = field(default_factory=list)
    build_logs: list[str] = field(default_factory=list)
    deploy_logs: list[str] = field(default_factory=list)
    # Seconds after SUCCESS when it crashes (None: never), and when it reached SUCCESS.
    crash_after: float | None = None
    success_at: float | None = None

    def current_status(self) -> str:
        """The status now: a SUCCESS one past its crash_after is CRASHED."""
        if (
            self.status == "SUCCESS"
            and self.crash_after is not None
            and self.success_at is not None
            and time.monotonic() - self.success_at >= self.crash_after
        ):
            self.status = "CRASHED"
            self.deploy_logs.append("Error: worker exited with code 137 (out of memory)")
        return self.status


def mutation(name: str) -> Callable[[Received], bool]:
    """Matches the requests carrying mutation ``name`` (for ``fail`` and ``drop_after``)."""

    def match(received: Received) -> bool:
        body = received.body
        query = body.get("query") if isinstance(body, dict) else None
        return isinstance(query, str) and f"mutation {name}" in query

    return match


class RailwayServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.graphql_url = f"{self.url}/graphql/v2"
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        # Newest first, as Railway lists them.
        self.deployments: list[FakeDeployment] = [
            self._new("SUCCESS", deploy_logs=["listening on :8080"]),
            self._new("REMOVED"),
        ]
        self.crash_next = False
        self.fail_build_next = False
        self.crash_after_success: float | None = None
        self.unknown_commits: set[str] = set()
        # Root fields answered with data that lacks them (a malformed answer).
        self.malformed: set[str] = set()
        self.static_domain = f"{SERVICE}-production.up.railway.app"
        self.variables: dict[str, str] = {"DATABASE_URL": "postgres://db/app", "PORT": "8080"}
        self.upserts: list[dict[str, Any]] = []
        self.rollbacks: list[str] = []
        self.operations: list[str] = []

    def _new(self, status: str, **logs: list[str]) -> FakeDeployment:
        number = next(self._ids)
        return FakeDeployment(
            id=f"dep-{number:04d}",
            status=status,
            created_at=f"2026-03-01T10:{next(self._clock):02d}:00Z",
            **logs,
        )

    def arrived(self, name: str) -> int:
        """How many requests carrying mutation ``name`` reached this server (faults included)."""
        return sum(1 for r in self.received if mutation(name)(r))

    def find(self, deployment_id: str) -> FakeDeployment | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    @property
    def previous_success_id(self) -> str:
        return next(d.id for d in self.deployments if d.current_status() == "SUCCESS")

    @property
    def public_url(self) -> str:
        """The service's public URL, on loopback (what ``public_url`` in the settings names)."""
        return self.url

    def serving(self) -> FakeDeployment | None:
        return next((d for d in self.deployments if d.current_status() == "SUCCESS"), None)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/graphql/v2", self._graphql)
        app.router.add_get("/{path:.*}", self._service)

    async def _service(self, request: web.Request) -> web.Response:
        serving = self.serving()
        if serving is None:
            return web.Response(text="Application failed to respond", status=502)
        return web.json_response({"status": "healthy", "deployment": serving.id})

    # -- request checks --------------------------------------------------------------------

    @staticmethod
    def _auth(request: web.Request) -> str | None:
        """None when the request carries a known token; else what is wrong."""
        bearer = request.headers.get("Authorization", "")
        project = request.headers.get("Project-Access-Token")
        if project is not None:
            return None if project == PROJECT_TOKEN else "bad"
        if bearer.startswith("Bearer "):
            return None if bearer.removeprefix("Bearer ") == ACCOUNT_TOKEN else "bad"
        return "missing"

    async def _graphql(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"errors": [{"message": "expected JSON"}]}, status=400)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errors": [{"message": "malformed JSON"}]}, status=400)
        query = body.get("query") if isinstance(body, dict) else None
        variables = body.get("variables", {}) if isinstance(body, dict) else None
        if not isinstance(query, str) or not isinstance(variables, dict):
            return web.json_response(
                {"errors": [{"message": "query (string) and variables (object) required"}]},
                status=400,
            )
        match = _ROOT_FIELD.match(query)
        if match is None or match.group(3) not in _REQUIRED:
            return web.json_response({"errors": [{"message": "unknown operation"}]}, status=400)
        kind, _, root = match.groups()
        if (kind == "mutation") != (root in _MUTATIONS):
            return web.json_response({"errors": [{"message": f"{root}: wrong kind"}]}, status=400)
        missing = [v for v in _REQUIRED[root] if v not in variables]
        if missing:
            message = f'Variable "${missing[0]}" of required type was not provided.'
            return web.json_response({"errors": [{"message": message}]}, status=400)
        auth = self._auth(request)
        if auth == "missing":
            return web.json_response({"errors": [{"message": "Not Authorized"}]}, status=401)
        if auth == "bad":
            return web.json_response({"errors": [{"message": "Not Authorized"}], "data": None})
        self.operations.append(root)
        if root in self.malformed:
            return web.json_response({"data": {"somethingElse": True}})
        try:
            data = getattr(self, f"_op_{root}")(variables)
        except LookupError as exc:
            return web.json_response({"errors": [{"message": str(exc.args[0])}], "data": None})
        return web.json_response({"data": {root: data}})

    def _check_ids(
        self, service: Any = SERVICE, environment: Any = ENVIRONMENT, project: Any = PROJECT
    ) -> None:
        if service != SERVICE:
            raise LookupError("Service not found")
        if environment != ENVIRONMENT:
            raise LookupError("Environment not found")
        if project != PROJECT:
            raise LookupError("Project not found")

    def _deployment(self, deployment_id: Any) -> FakeDeployment:
        found = self.find(str(deployment_id))
        if found is None:
            raise LookupError("Deployment not found")
        return found

    # -- operations ------------------------------------------------------------------------

    def _op_serviceInstanceDeployV2(self, v: dict[str, Any]) -> str:
        self._check_ids(v["serviceId"], v["environmentId"])
        if v.get("commitSha") in self.unknown_commits:
            raise LookupError("Commit not found")
        if self.crash_next:
            new = self._new(
                "QUEUED",
                build_logs=["npm ci", "npm run build", "Build succeeded"],
                deploy_logs=["Starting app", "Error: Cannot find module 'express'"],
            )
            new.script = ["BUILDING", "DEPLOYING", "CRASHED"]
            self.crash_next = False
        elif self.fail_build_next:
            new = self._new("QUEUED", build_logs=["npm ci", "npm ERR! missing script: build"])
            new.script = ["BUILDING", "FAILED"]
            self.fail_build_next = False
        else:
            new = self._new("QUEUED", deploy_logs=["listening on :8080"])
            new.script = ["BUILDING", "DEPLOYING", "SUCCESS"]
            new.crash_after = self.crash_after_success
        self.deployments.insert(0, new)
        return new.id

    def _node(self, d: FakeDeployment) -> dict[str, Any]:
        return {
            "id": d.id,
            "status": d.current_status(),
            "createdAt": d.created_at,
            "staticUrl": self.static_domain,
        }

    def _op_deployment(self, v: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(v["id"])
        if d.script:
            d.status = d.script.pop(0)
            if d.status in ("SUCCESS", "CRASHED"):  # CRASHED: it was Active, then crashed
                d.success_at = time.monotonic()
                for other in self.deployments:
                    if other is not d and other.status == "SUCCESS":
                        other.status = "REMOVED"
        return self._node(d)

    def _op_deployments(self, v: dict[str, Any]) -> dict[str, Any]:
        given = v["input"]
        if not isinstance(given, dict):
            raise LookupError("input must be an object")
        self._check_ids(given.get("serviceId"), given.get("environmentId"), given.get("projectId"))
        first = int(v.get("first") or 100)
        return {"edges": [{"node": self._node(d)} for d in self.deployments[:first]]}

    def _op_deploymentRollback(self, v: dict[str, Any]) -> bool:
        d = self._deployment(v["id"])
        if d.current_status() not in ("SUCCESS", "REMOVED"):
            raise LookupError("Cannot rollback to a deployment that did not succeed")
        self.rollbacks.append(d.id)
        restored = self._new("SUCCESS", deploy_logs=list(d.deploy_logs))
        restored.success_at = time.monotonic()
        for other in self.deployments:
            if other.current_status() == "SUCCESS":
                other.status = "REMOVED"
        self.deployments.insert(0, restored)
        return True

    def _op_deploymentRemove(self, v: dict[str, Any]) -> bool:
        self._deployment(v["id"]).status = "REMOVED"
        return True

    def _logs(self, v: dict[str, Any], lines: list[str]) -> list[dict[str, str]]:
        limit = int(v.get("limit") or 500)
        return [
            {"message": m, "timestamp": "2026-03-01T10:00:00Z", "severity": "info"}
            for m in lines[-limit:]
        ]

    def _op_buildLogs(self, v: dict[str, Any]) -> list[dict[str, str]]:
        return self._logs(v, self._deployment(v["deploymentId"]).build_logs)

    def _op_deploymentLogs(self, v: dict[str, Any]) -> list[dict[str, str]]:
        return self._logs(v, self._deployment(v["deploymentId"]).deploy_logs)

    def _op_variables(self, v: dict[str, Any]) -> dict[str, str]:
        self._check_ids(v.get("serviceId", SERVICE), v["environmentId"], v["projectId"])
        return dict(self.variables)

    def _op_variableCollectionUpsert(self, v: dict[str, Any]) -> bool:
        given = v["input"]
        if not isinstance(given, dict) or not isinstance(given.get("variables"), dict):
            raise LookupError("input.variables must be an object")
        self._check_ids(given.get("serviceId"), given.get("environmentId"), given.get("projectId"))
        self.upserts.append(given)
        self.variables.update({str(k): str(val) for k, val in given["variables"].items()})
        return True

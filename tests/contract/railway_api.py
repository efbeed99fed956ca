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

Every deployment status query advances the deployment one step through its script
(BUILDING → DEPLOYING → SUCCESS, or → CRASHED when ``crash_next`` was set).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import ContractServer

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

    def find(self, deployment_id: str) -> FakeDeployment | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    @property
    def previous_success_id(self) -> str:
        return next(d.id for d in self.deployments if d.status == "SUCCESS")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/graphql/v2", self._graphql)

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
        self.deployments.insert(0, new)
        return new.id

    def _op_deployment(self, v: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(v["id"])
        if d.script:
            d.status = d.script.pop(0)
            if d.status == "SUCCESS":
                for other in self.deployments:
                    if other is not d and other.status == "SUCCESS":
                        other.status = "REMOVED"
        return {"id": d.id, "status": d.status, "createdAt": d.created_at, "staticUrl": None}

    def _op_deployments(self, v: dict[str, Any]) -> dict[str, Any]:
        given = v["input"]
        if not isinstance(given, dict):
            raise LookupError("input must be an object")
        self._check_ids(given.get("serviceId"), given.get("environmentId"), given.get("projectId"))
        first = int(v.get("first") or 100)
        nodes = [
            {"node": {"id": d.id, "status": d.status, "createdAt": d.created_at, "staticUrl": None}}
            for d in self.deployments[:first]
        ]
        return {"edges": nodes}

    def _op_deploymentRollback(self, v: dict[str, Any]) -> bool:
        d = self._deployment(v["id"])
        if d.status not in ("SUCCESS", "REMOVED"):
            raise LookupError("Cannot rollback to a deployment that did not succeed")
        self.rollbacks.append(d.id)
        restored = self._new("SUCCESS")
        for other in self.deployments:
            if other.status == "SUCCESS":
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

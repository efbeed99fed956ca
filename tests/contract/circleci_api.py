"""A loopback contract server for the CircleCI API v2.

Shapes written from CircleCI's documentation, not recorded from the live API:
- https://circleci.com/docs/api/v2/ (authentication with the "Circle-Token" header; errors as
  {"message": ...})
- https://circleci.com/docs/api/v2/index.html#operation/triggerPipeline
  (POST /api/v2/project/{project-slug}/pipeline with {"branch" | "tag", "parameters"} →
  201 {"id", "state", "number", "created_at"}; branch and tag are mutually exclusive)
- https://circleci.com/docs/api/v2/index.html#operation/listWorkflowsByPipelineId
  (GET /api/v2/pipeline/{pipeline-id}/workflow → {"items": [{"id", "name", "status", ...}],
  "next_page_token"}; status success | running | not_run | failed | error | failing | on_hold |
  canceled | unauthorized)
- https://circleci.com/docs/api/v2/index.html#operation/triggerPipelineRun
  (POST /api/v2/project/{project-slug}/pipeline/run with {"definition_id" (required),
  "config": {"branch" | "tag"}, "checkout": {"branch" | "tag"}, "parameters"} → 201 with the
  same {"id", "state", "number", "created_at"}; it supersedes triggerPipeline, which does not
  support projects integrated through the GitHub App or GitLab. Checked through third-party
  copies of the reference, not CircleCI's page itself)
- https://circleci.com/docs/api/v2/index.html#operation/getCurrentUser (GET /api/v2/me)
- https://circleci.com/docs/api/v2/index.html#operation/listPipelinesForProject
  (GET /api/v2/project/{project-slug}/pipeline?branch= → {"items": [Pipeline], "next_page_token"},
  newest first; Pipeline: id, errors, project_slug, updated_at, number, state, created_at,
  trigger {type, received_at, actor {login, avatar_url}}, vcs {branch, ...}). Checked through a
  copy of CircleCI's OpenAPI "PipelineList" schema (the search tool), not CircleCI's page.

Checked with the search tool against copies of CircleCI's OpenAPI schemas (PipelineCreation:
id, state, number, created_at; pipeline state created | errored | setup-pending | setup |
pending; Workflow status enum as above, stopped_at nullable). Not verified: the exact error
messages ("Project not found", "Pipeline not found", "Invalid token provided.") are this
server's, in CircleCI's {"message"} shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import ContractServer, error

SLUG = "gh/acme/shop"
TOKEN = "circle-Vb7Nm2Qx9Lk4Jh6Gf1Ds8Pa3Zt5Wy0Re"


@dataclass
class FakePipeline:
    id: str
    number: int
    body: dict[str, Any]
    script: list[str] = field(default_factory=list)
    status: str = "running"
    created_at: str = "2026-03-01T10:00:00Z"


class CircleCIServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.next_outcome = "success"
        self.pipelines: dict[str, FakePipeline] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/me", self._me)
        app.router.add_post("/api/v2/project/{vcs}/{org}/{repo}/pipeline", self._trigger)
        app.router.add_get("/api/v2/project/{vcs}/{org}/{repo}/pipeline", self._list)
        app.router.add_post("/api/v2/project/{vcs}/{org}/{repo}/pipeline/run", self._trigger_run)
        app.router.add_get("/api/v2/pipeline/{pipeline_id}/workflow", self._workflows)

    @staticmethod
    def _auth(request: web.Request) -> web.Response | None:
        token = request.headers.get("Circle-Token")
        if token is None:
            return error(401, "You must log in first.")
        if token != TOKEN:
            return error(401, "Invalid token provided.")
        return None

    async def _me(self, request: web.Request) -> web.Response:
        return self._auth(request) or web.json_response(
            {"id": "5c1b8c1e-0000-4000-8000-000000000001", "login": "deploy-bot", "name": "Bot"}
        )

    async def _trigger(self, request: web.Request) -> web.Response:
        problem = self._auth(request)
        if problem:
            return problem
        info = request.match_info
        if f"{info['vcs']}/{info['org']}/{info['repo']}" != SLUG:
            return error(404, "Project not found")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict):
            return error(400, "Request body must be a JSON object")
        if "branch" in body and "tag" in body:
            return error(400, "Only one of branch or tag may be given")
        if not isinstance(body.get("branch", body.get("tag")), str):
            return error(400, "branch or tag is required")
        if not isinstance(body.get("parameters", {}), dict):
            return error(400, "parameters must be an object")
        return self._created(body)

    async def _trigger_run(self, request: web.Request) -> web.Response:
        problem = self._auth(request)
        if problem:
            return problem
        info = request.match_info
        if f"{info['vcs']}/{info['org']}/{info['repo']}" != SLUG:
            return error(404, "Project not found")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("definition_id"), str):
            return error(400, "definition_id is required")
        for source in ("config", "checkout"):
            given = body.get(source, {})
            if not isinstance(given, dict) or ("branch" in given and "tag" in given):
                return error(400, f"{source}: only one of branch or tag may be given")
        if not isinstance(body.get("parameters", {}), dict):
            return error(400, "parameters must be an object")
        return self._created(body)

    def _created(self, body: dict[str, Any]) -> web.Response:
        number = len(self.pipelines) + 1
        pipeline = FakePipeline(str(uuid.uuid4()), number, body)
        pipeline.created_at = f"2026-03-01T10:{number % 60:02d}:00Z"
        pipeline.script = ["running", self.next_outcome]
        self.pipelines[pipeline.id] = pipeline
        return web.json_response(
            {
                "id": pipeline.id,
                "state": "created",
                "number": pipeline.number,
                "created_at": pipeline.created_at,
            },
            status=201,
        )

    async def _list(self, request: web.Request) -> web.Response:
        problem = self._auth(request)
        if problem:
            return problem
        info = request.match_info
        if f"{info['vcs']}/{info['org']}/{info['repo']}" != SLUG:
            return error(404, "Project not found")
        branch = request.query.get("branch")
        items = []
        for pipeline in sorted(self.pipelines.values(), key=lambda p: p.number, reverse=True):
            given = pipeline.body.get("branch") or pipeline.body.get("checkout", {}).get("branch")
            if branch is not None and given != branch:
                continue
            items.append(
                {
                    "id": pipeline.id,
                    "errors": [],
                    "project_slug": SLUG,
                    "updated_at": pipeline.created_at,
                    "number": pipeline.number,
                    "state": "created",
                    "created_at": pipeline.created_at,
                    "trigger": {
                        "type": "api",
                        "received_at": pipeline.created_at,
                        "actor": {"login": "deploy-bot", "avatar_url": None},
                    },
                    "vcs": {"branch": given, "provider_name": "GitHub"},
                }
            )
        return web.json_response({"items": items[:20], "next_page_token": None})

    async def _workflows(self, request: web.Request) -> web.Response:
        problem = self._auth(request)
        if problem:
            return problem
        pipeline = self.pipelines.get(request.match_info["pipeline_id"])
        if pipeline is None:
            return error(404, "Pipeline not found")
        if pipeline.script:
            pipeline.status = pipeline.script.pop(0)
        item = {
            "pipeline_id": pipeline.id,
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, pipeline.id)),
            "name": "deploy",
            "project_slug": SLUG,
            "status": pipeline.status,
            "started_by": "5c1b8c1e-0000-4000-8000-000000000001",
            "pipeline_number": pipeline.number,
            "created_at": "2026-03-01T10:00:00Z",
            "stopped_at": None if pipeline.status == "running" else "2026-03-01T10:02:00Z",
        }
        return web.json_response({"items": [item], "next_page_token": None})

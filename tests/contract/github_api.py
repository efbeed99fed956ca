"""A loopback contract server for the GitHub REST API (Actions) and GitHub's status page API.

Shapes written from GitHub's documentation, not recorded from the live API:
- https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
  (POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches with "ref", "inputs"
  (at most 25) and "return_run_details": true → 200 {"workflow_run_id", "run_url",
  "html_url"}; without it 204 No Content)
- https://docs.github.com/en/rest/actions/workflow-runs#get-a-workflow-run and
  #list-workflow-runs-for-a-workflow (status queued / in_progress / completed, conclusion,
  run_started_at, created_at, updated_at; {"total_count", "workflow_runs"})
- https://docs.github.com/en/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
  ({"total_count", "jobs": [{id, status, conclusion, steps, check_run_url}]})
- https://docs.github.com/en/rest/checks/runs#list-check-run-annotations (a job's id is its
  check run's id; annotations [{path, annotation_level, message, ...}])
- https://docs.github.com/en/billing (a job not started for billing: the run concludes
  "failure" within seconds, its job has no steps, and the annotation reads "The job was not
  started because recent account payments have failed or your spending limit needs to be
  increased. ...")
- https://docs.github.com/en/rest/authentication ("Authorization: Bearer TOKEN"; 401
  {"message": "Bad credentials"}), https://docs.github.com/en/rest/about-the-rest-api/api-versions
  (X-GitHub-Api-Version: 2022-11-28)
- https://docs.github.com/en/rest/deployments/deployments#create-a-deployment
  (POST /repos/{owner}/{repo}/deployments: "ref" required; "environment", "required_contexts"
  (array; [] skips commit-status checks, absent means all must pass), "auto_merge" (boolean,
  default true), "payload" (object or JSON string), "description", "production_environment" →
  201 with the deployment {"id", "sha", "ref", "environment", "payload", "statuses_url", ...})
- https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status
  (POST .../deployments/{deployment_id}/statuses: "state" required, one of error, failure,
  inactive, in_progress, queued, pending, success; "description" at most 140 characters;
  "log_url", "environment_url", "auto_inactive" → 201 {"id", "state", "description",
  "environment_url", "log_url", "deployment_url", ...}; unknown deployment → 404)
- https://docs.github.com/en/rest/issues/issues#create-an-issue (POST /repos/{owner}/{repo}/issues:
  "title" required (string or integer), "body" (string or null), "labels" (strings or objects
  with a name), "assignees", "milestone" → 201 with the issue {"id", "node_id", "number",
  "title", "body", "state": "open", "url", "html_url", "labels", ...}; 410 when the repository
  has issues disabled; 422 on a validation error)
- https://docs.github.com/en/rest/issues/issues#list-repository-issues (GET
  /repos/{owner}/{repo}/issues: state open | closed | all (default open), labels (a
  comma-separated list: issues with every label), per_page (default 30, at most 100), page;
  pull requests are listed too, with a "pull_request" key) and #update-an-issue (PATCH
  .../issues/{issue_number}: state open | closed, state_reason completed | not_planned |
  reopened (ignored unless state changes) → 200 with the issue; 404 for an unknown number)
- https://docs.github.com/en/rest/issues/comments#create-an-issue-comment (POST
  .../issues/{issue_number}/comments: "body" required → 201 {"id", "node_id", "body",
  "html_url", "issue_url", "created_at", ...}) and #list-issue-comments (GET, oldest first,
  per_page at most 100, page)
- https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api (over the
  primary rate limit: 403 or 429 with x-ratelimit-remaining 0 and x-ratelimit-reset, the epoch
  second it resets)
- https://www.githubstatus.com/api (Atlassian Statuspage v2: GET /api/v2/components.json →
  {"components": [{"id", "name", "status": operational | degraded_performance |
  partial_outage | major_outage}]})

Checked with the search tool (docs.github.com itself is barely in its index; the checks went
through GitHub's changelog and copies of GitHub's OpenAPI description):
- dispatch with return_run_details: https://github.blog/changelog/2026-02-19-workflow-dispatch-
  api-now-returns-run-ids (200 with the run's id, API URL and web URL; 204 without it).
- check-run annotations: GitHub's OpenAPI "check-annotation" (path, blob_href, start_line,
  end_line, start_column, end_column, annotation_level, title, message, raw_details): the
  fields blob_href, start_column, end_column and raw_details were missing here and are added.
- the billing annotation's text, as users quote it on GitHub's community forum: "... Please
  check the 'Billing & plans' section in your settings" (this server said "of your
  settings."; fixed).
- deployments and statuses: https://developer.github.com/v3/repos/deployments/ and GitHub's
  2016 changelog (environment_url, log_url replacing target_url, inactive, production_environment
  true by default for "production"), copies of "create a deployment" (ref, environment,
  auto_merge, required_contexts).
- issues: GitHub's OpenAPI "issues/create" request (title required; body, labels, assignees,
  milestone; labels dropped without push access); "issues/update" (state_reason "Ignored unless
  state is changed"; completed, not_planned, reopened, as github/docs issue #22914 quotes the
  page).
Not verified: auto_inactive's exact wording and default (docs.github.com's statuses page was not
in the index; GitHub's 2018 changelog says statuses can "auto-inactivate" earlier deployments),
the 410 answer for a repository with issues disabled, and the error messages' texts (this
server's, in GitHub's {"message"} shape).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import ContractServer, error

OWNER = "acme"
REPO = "shop"
WORKFLOW = "deploy.yml"
TOKEN = "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
BILLING_MESSAGE = (
    "The job was not started because recent account payments have failed or your spending "
    "limit needs to be increased. Please check the 'Billing & plans' section in your settings"
)
API_VERSIONS = ("2022-11-28", "2026-03-10")
STATE_REASONS = ("completed", "not_planned", "reopened", "duplicate", None)
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


@dataclass
class FakeDeployment:
    id: int
    body: dict[str, Any]
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeIssue:
    """An issue as this server keeps it (``GitHubServer.issues`` keeps the create requests)."""

    number: int
    title: str
    body: str | None
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    comments: list[str] = field(default_factory=list)
    pull_request: bool = False
    created_at: float = field(default_factory=time.time)  # epoch seconds


@dataclass
class FakeRun:
    id: int
    inputs: dict[str, Any]
    status: str = "queued"
    conclusion: str | None = None
    script: list[tuple[str, str | None]] = field(default_factory=list)
    billing: bool = False
    created_at: str = "2026-03-01T10:00:00Z"
    updated_at: str = "2026-03-01T10:00:00Z"


class GitHubServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.status_url = f"{self.url}/api/v2/components.json"
        self.actions_status = "operational"
        self.actions_component_name = "Actions"
        self.billing_failed = False
        self.fail_next_run = False
        self._ids = itertools.count(9001)
        self.runs: dict[int, FakeRun] = {}
        self.dispatches: list[dict[str, Any]] = []
        self.deployments: dict[int, FakeDeployment] = {}
        self.issues: list[dict[str, Any]] = []  # the create requests' bodies
        self.issue_records: dict[int, FakeIssue] = {}
        # Epoch seconds: every request is refused (403, X-RateLimit-Remaining: 0) until healed.
        self.rate_limit_reset: float | None = None
        self.drop_labels = False  # a token without triage access: labels silently dropped
        self.issues_enabled = True

    def routes(self, app: web.Application) -> None:
        base = "/repos/{owner}/{repo}"
        app.router.add_get("/api/v2/components.json", self._components)
        app.router.add_post(base + "/actions/workflows/{workflow}/dispatches", self._dispatch)
        app.router.add_get(base + "/actions/workflows/{workflow}/runs", self._list_runs)
        app.router.add_get(base + "/actions/runs/{run_id}", self._get_run)
        app.router.add_get(base + "/actions/runs/{run_id}/jobs", self._jobs)
        app.router.add_get(base + "/check-runs/{check_id}/annotations", self._annotations)
        app.router.add_post(base + "/deployments", self._create_deployment)
        app.router.add_post(base + "/deployments/{deployment_id}/statuses", self._create_status)
        app.router.add_post(base + "/issues", self._create_issue)
        app.router.add_get(base + "/issues", self._list_issues)
        app.router.add_patch(base + "/issues/{number}", self._update_issue)
        app.router.add_get(base + "/issues/{number}/comments", self._list_comments)
        app.router.add_post(base + "/issues/{number}/comments", self._create_comment)

    # -- state -----------------------------------------------------------------------------

    def add_billing_failed_run(self) -> FakeRun:
        """A recent run that GitHub refused to start for billing."""
        run = FakeRun(
            next(self._ids),
            {},
            "completed",
            "failure",
            billing=True,
            created_at="2026-03-01T10:00:00Z",
            updated_at="2026-03-01T10:00:03Z",
        )
        self.runs[run.id] = run
        return run

    # -- checks ----------------------------------------------------------------------------

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth:
            return error(401, "Requires authentication")
        if auth not in (f"Bearer {TOKEN}", f"token {TOKEN}"):
            return error(401, "Bad credentials")
        if self.rate_limit_reset is not None:  # the primary rate limit is used up
            return web.json_response(
                {"message": "API rate limit exceeded for user ID 1."},
                status=403,
                headers={
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(self.rate_limit_reset)),
                },
            )
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            return error(400, f"Unsupported 'X-GitHub-Api-Version' header: {version}")
        info = request.match_info
        if (info.get("owner"), info.get("repo")) != (OWNER, REPO):
            return error(404, "Not Found")
        if "workflow" in info and info["workflow"] != WORKFLOW:
            return error(404, "Not Found")
        return None

    def _run_json(self, run: FakeRun) -> dict[str, Any]:
        api = f"{self.url}/repos/{OWNER}/{REPO}/actions/runs/{run.id}"
        return {
            "id": run.id,
            "name": "deploy",
            "status": run.status,
            "conclusion": run.conclusion,
            "event": "workflow_dispatch",
            "created_at": run.created_at,
            "run_started_at": run.created_at,
            "updated_at": run.updated_at,
            "url": api,
            "html_url": f"https://github.com/{OWNER}/{REPO}/actions/runs/{run.id}",
            "jobs_url": f"{api}/jobs",
        }

    def _run(self, request: web.Request) -> FakeRun | None:
        try:
            return self.runs.get(int(request.match_info.get("run_id", "")))
        except ValueError:
            return None

    # -- routes ----------------------------------------------------------------------------

    async def _components(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "page": {"id": "kctbh9vrtdwd", "name": "GitHub"},
                "components": [
                    {"id": "brv1bkgrwx7q", "name": "Git Operations", "status": "operational"},
                    {"id": "8l4ygp009s5s", "name": "API Requests", "status": "operational"},
                    {
                        "id": "br0l2tvcx85d",
                        "name": self.actions_component_name,
                        "status": self.actions_status,
                    },
                ],
            }
        )

    async def _dispatch(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            return error(422, 'Invalid request. "ref" wasn\'t supplied.')
        inputs = body.get("inputs", {})
        if not isinstance(inputs, dict) or len(inputs) > 25:
            return error(422, "Invalid request. inputs must be an object of at most 25 keys.")
        self.dispatches.append(body)
        run = FakeRun(next(self._ids), inputs)
        if self.billing_failed:
            run.billing = True
            run.status, run.conclusion = "completed", "failure"
            run.updated_at = "2026-03-01T10:00:02Z"
        elif self.fail_next_run:
            run.script = [("in_progress", None), ("completed", "failure")]
            self.fail_next_run = False
        else:
            run.script = [("in_progress", None), ("completed", "success")]
        self.runs[run.id] = run
        if body.get("return_run_details") is not True:
            return web.Response(status=204)
        details = self._run_json(run)
        return web.json_response(
            {"workflow_run_id": run.id, "run_url": details["url"], "html_url": details["html_url"]}
        )

    async def _list_runs(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        per_page = min(int(request.query.get("per_page", "30")), 100)
        runs = sorted(self.runs.values(), key=lambda r: r.id, reverse=True)[:per_page]
        return web.json_response(
            {"total_count": len(self.runs), "workflow_runs": [self._run_json(r) for r in runs]}
        )

    async def _get_run(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        run = self._run(request)
        if run is None:
            return error(404, "Not Found")
        if run.script:
            run.status, run.conclusion = run.script.pop(0)
            run.updated_at = "2026-03-01T10:03:00Z"
        return web.json_response(self._run_json(run))

    async def _jobs(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        run = self._run(request)
        if run is None:
            return error(404, "Not Found")
        steps = (
            []
            if run.billing
            else [
                {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1}
            ]
        )
        job = {
            "id": run.id * 10,
            "run_id": run.id,
            "name": "deploy",
            "status": run.status,
            "conclusion": run.conclusion,
            "steps": steps,
            "check_run_url": f"{self.url}/repos/{OWNER}/{REPO}/check-runs/{run.id * 10}",
        }
        return web.json_response({"total_count": 1, "jobs": [job]})

    async def _annotations(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        check_id = int(request.match_info["check_id"])
        run = self.runs.get(check_id // 10)
        if run is None or check_id % 10:
            return error(404, "Not Found")
        if not run.billing:
            return web.json_response([])
        return web.json_response(
            [
                {
                    "path": ".github",
                    "blob_href": f"https://github.com/{OWNER}/{REPO}/blob/main/.github",
                    "start_line": 1,
                    "end_line": 1,
                    "start_column": None,
                    "end_column": None,
                    "annotation_level": "failure",
                    "title": "",
                    "message": BILLING_MESSAGE,
                    "raw_details": None,
                }
            ]
        )

    async def _create_deployment(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            return error(422, 'Invalid request. "ref" wasn\'t supplied.')
        checks: dict[str, type | tuple[type, ...]] = {
            "environment": str,
            "required_contexts": list,
            "auto_merge": bool,
            "payload": (dict, str),
            "description": str,
            "production_environment": bool,
        }
        for key, kind in checks.items():
            if key in body and not isinstance(body[key], kind):
                return error(422, f"Invalid request. {key} has the wrong type.")
        deployment = FakeDeployment(next(self._ids), body)
        self.deployments[deployment.id] = deployment
        api = f"{self.url}/repos/{OWNER}/{REPO}/deployments/{deployment.id}"
        return web.json_response(
            {
                "id": deployment.id,
                "sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
                "ref": body["ref"],
                "task": "deploy",
                "payload": body.get("payload", {}),
                "environment": body.get("environment", "production"),
                "description": body.get("description"),
                "created_at": "2026-03-01T10:00:00Z",
                "updated_at": "2026-03-01T10:00:00Z",
                "url": api,
                "statuses_url": f"{api}/statuses",
            },
            status=201,
        )

    async def _create_status(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        try:
            deployment = self.deployments.get(int(request.match_info["deployment_id"]))
        except ValueError:
            deployment = None
        if deployment is None:
            return error(404, "Not Found")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or body.get("state") not in DEPLOYMENT_STATES:
            return error(422, "Invalid request. state is not a valid deployment state.")
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 140:
            return error(422, "Invalid request. description is too long (maximum is 140).")
        for key in ("environment_url", "log_url"):
            if key in body and not isinstance(body[key], str):
                return error(422, f"Invalid request. {key} is not a string.")
        deployment.statuses.append(body)
        return web.json_response(
            {
                "id": next(self._ids),
                "state": body["state"],
                "description": description,
                "environment": deployment.body.get("environment", "production"),
                "environment_url": body.get("environment_url", ""),
                "log_url": body.get("log_url", ""),
                "deployment_url": f"{self.url}/repos/{OWNER}/{REPO}/deployments/{deployment.id}",
            },
            status=201,
        )

    async def _create_issue(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        if not self.issues_enabled:
            return error(410, "Issues are disabled for this repo")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("title"), str | int):
            return error(422, "Validation Failed")
        if not isinstance(body.get("body"), str | None):
            return error(422, "Validation Failed")
        labels = body.get("labels", [])
        if not isinstance(labels, list) or not all(
            isinstance(x, str) or (isinstance(x, dict) and isinstance(x.get("name"), str))
            for x in labels
        ):
            return error(422, "Validation Failed")
        self.issues.append(body)
        number = len(self.issue_records) + 1  # issues and pull requests share the numbers
        names = [x if isinstance(x, str) else x["name"] for x in labels]
        issue = FakeIssue(
            number, str(body["title"]), body.get("body"), [] if self.drop_labels else names
        )
        self.issue_records[number] = issue
        return web.json_response(self._issue_json(issue), status=201)

    def add_pull_request(self, body: str) -> FakeIssue:
        """An open pull request: the issues list shows it too (with a "pull_request" key)."""
        number = len(self.issue_records) + 1
        pr = FakeIssue(number, "a pull request", body, ["safeship-alert"], pull_request=True)
        self.issue_records[number] = pr
        return pr

    def open_issues(self) -> list[FakeIssue]:
        return [i for i in self.issue_records.values() if i.state == "open" and not i.pull_request]

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        api = f"{self.url}/repos/{OWNER}/{REPO}/issues/{issue.number}"
        found: dict[str, Any] = {
            "id": 7000 + issue.number,
            "node_id": f"I_kwDO{issue.number:08d}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "url": api,
            "comments_url": f"{api}/comments",
            "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{issue.number}",
            "labels": [{"name": name, "color": "ededed"} for name in issue.labels],
            "comments": len(issue.comments),
            "created_at": "2026-03-01T10:00:00Z",
        }
        if issue.pull_request:
            found["pull_request"] = {"url": f"{self.url}/repos/{OWNER}/{REPO}/pulls/{issue.number}"}
        return found

    def _issue(self, request: web.Request) -> FakeIssue | None:
        try:
            return self.issue_records.get(int(request.match_info["number"]))
        except ValueError:
            return None

    @staticmethod
    def _page(request: web.Request) -> tuple[int, int] | web.Response:
        try:
            per_page = int(request.query.get("per_page", "30"))
            page = int(request.query.get("page", "1"))
        except ValueError:
            return error(422, "Validation Failed")
        return min(max(per_page, 1), 100), max(page, 1)

    async def _list_issues(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        if not self.issues_enabled:
            return error(410, "Issues are disabled for this repo")
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            return error(422, "Validation Failed")
        paging = self._page(request)
        if isinstance(paging, web.Response):
            return paging
        per_page, page = paging
        wanted = {x for x in request.query.get("labels", "").split(",") if x}
        found = [
            i
            for i in sorted(self.issue_records.values(), key=lambda i: -i.number)  # newest first
            if state in ("all", i.state) and wanted <= set(i.labels)
        ]
        window = found[(page - 1) * per_page : page * per_page]
        return web.json_response([self._issue_json(i) for i in window])

    async def _update_issue(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        issue = self._issue(request)
        if issue is None:
            return error(404, "Not Found")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict):
            return error(422, "Validation Failed")
        if body.get("state", issue.state) not in ("open", "closed"):
            return error(422, "Validation Failed")
        if body.get("state_reason") not in STATE_REASONS:
            return error(422, "Validation Failed")
        if "state" in body and body["state"] != issue.state:
            issue.state = body["state"]
            issue.state_reason = body.get("state_reason") or (
                "completed" if issue.state == "closed" else "reopened"
            )
        return web.json_response(self._issue_json(issue))

    async def _list_comments(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        issue = self._issue(request)
        if issue is None:
            return error(404, "Not Found")
        paging = self._page(request)
        if isinstance(paging, web.Response):
            return paging
        per_page, page = paging
        window = list(enumerate(issue.comments))[(page - 1) * per_page : page * per_page]
        return web.json_response(
            [{"id": issue.number * 1000 + n, "body": text} for n, text in window]
        )

    async def _create_comment(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        issue = self._issue(request)
        if issue is None:
            return error(404, "Not Found")
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return error(422, "Validation Failed")
        issue.comments.append(body["body"])
        comment_id = issue.number * 1000 + len(issue.comments) - 1
        return web.json_response(
            {
                "id": comment_id,
                "node_id": f"IC_kwDO{comment_id:08d}",
                "body": body["body"],
                "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{issue.number}"
                f"#issuecomment-{comment_id}",
                "issue_url": f"{self.url}/repos/{OWNER}/{REPO}/issues/{issue.number}",
                "created_at": "2026-03-01T10:00:00Z",
            },
            status=201,
        )

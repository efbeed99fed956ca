"""The GitHub contract server (github_api.py) with a workflow run's review history: the
required reviewers of protected environments who approved or rejected the run's jobs.

Shape written from GitHub's documentation, not recorded from the live API:
- https://docs.github.com/en/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run
  (GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals → 200 with an array of
  "environment-approvals": {"environments": [{"id", "node_id", "name", "url", "html_url",
  "created_at", "updated_at"}], "state": "approved" | "rejected" | "pending", "user": a
  simple user {"login", "id", "node_id", "avatar_url", "type", ...}, "comment": string};
  an unknown run → 404)

Checked with the search tool: GitHub's OpenAPI description (github/rest-api-description, as
the openapi-github crate generates it: EnvironmentApprovals {environments, state, user,
comment}, "An entry in the reviews log for environment deployments"). Not verified: whether
the array is ordered oldest first (this server keeps the order reviews were added).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from github_api import OWNER, REPO, GitHubServer
from loopback import error


class GitHubReviewsServer(GitHubServer):
    def __init__(self) -> None:
        super().__init__()
        self.reviews: dict[int, list[dict[str, Any]]] = {}  # run id → its review history

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/repos/{owner}/{repo}/actions/runs/{run_id}/approvals", self._reviews)

    def review(self, run_id: int, login: str, state: str, environment: str, comment: str) -> None:
        """A reviewer's answer for ``environment`` in the run's history."""
        self.reviews.setdefault(run_id, []).append(
            {
                "environments": [
                    {
                        "id": 56780428 + len(environment),
                        "node_id": "MDExOkVudmlyb25tZW50NTY3ODA0Mjg=",
                        "name": environment,
                        "url": f"{self.url}/repos/{OWNER}/{REPO}/environments/{environment}",
                        "html_url": f"https://github.com/{OWNER}/{REPO}/deployments/activity_log"
                        f"?environments_filter={environment}",
                        "created_at": "2026-11-23T22:00:40Z",
                        "updated_at": "2026-11-23T22:00:40Z",
                    }
                ],
                "state": state,
                "user": {"login": login, "id": 1000 + len(login), "type": "User"},
                "comment": comment,
            }
        )

    async def _reviews(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        try:
            run_id = int(request.match_info["run_id"])
        except ValueError:
            return error(404, "Not Found")
        if run_id not in self.reviews:
            return error(404, "Not Found")
        return web.json_response(self.reviews[run_id])

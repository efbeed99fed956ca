"""The loopback GitHub server (github_api.py) extended with a repository's branches, files and
pull requests: what `safeship env drift --pr` uses.

Shapes written from GitHub's documentation (checked with the search tool against GitHub's OpenAPI
description as the openapi-github crate publishes it, and copies of docs.github.com's pages):
- https://docs.github.com/en/rest/repos/repos#get-a-repository (GET /repos/{owner}/{repo} →
  {"id", "name", "full_name", "default_branch", ...})
- https://docs.github.com/en/rest/git/refs#get-a-reference (GET .../git/ref/{ref}, the ref as
  heads/BRANCH → {"ref": "refs/heads/BRANCH", "node_id", "url", "object": {"type": "commit",
  "sha", "url"}}; 404 when there is no such ref) and #create-a-reference (POST .../git/refs
  {"ref": fully qualified, "refs/..." with at least two slashes, else rejected; "sha"} → 201
  with the reference; 422 "Reference already exists")
- https://docs.github.com/en/rest/repos/contents#get-repository-content (GET
  .../contents/{path}?ref=BRANCH → {"type": "file", "encoding": "base64", "size", "name",
  "path", "content" (base64, wrapped at 60 characters with newlines), "sha" (the blob's)};
  404 "Not Found") and #create-or-update-file-contents (PUT .../contents/{path} {"message",
  "content" (base64), "sha" (required when updating: the blob SHA of the file being replaced),
  "branch" (default: the repository's default branch)} → 201 created or 200 updated, {"content":
  {...}, "commit": {"sha", ...}}; 409 when "sha" does not match; 422 when "sha" is missing for
  an existing file)
- https://docs.github.com/en/rest/pulls/pulls#list-pull-requests (GET .../pulls with state
  open|closed|all, head "user:ref-name", base → a list) and #create-a-pull-request (POST
  .../pulls {"title", "head", "base", "body", "draft"} → 201 {"id", "number", "html_url",
  "state": "open", "title", "body", "head": {"ref"}, "base": {"ref"}}; 422 "A pull request
  already exists for OWNER:BRANCH." and 422 when head has no commits against base)
Not verified: the error messages' exact texts (this server's, in GitHub's {"message"} shape).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from github_api import OWNER, REPO, GitHubServer
from loopback import error

DEFAULT_BRANCH = "main"


def blob_sha(text: str) -> str:
    """Git's blob id of ``text`` (what the contents API calls a file's sha)."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


@dataclass
class FakePull:
    number: int
    title: str
    head: str
    base: str
    body: str
    state: str = "open"


class GitHubRepoServer(GitHubServer):
    def __init__(self) -> None:
        super().__init__()
        self._commits = itertools.count(1)
        # branch -> (commit sha, {path: text})
        self.branches: dict[str, tuple[str, dict[str, str]]] = {
            DEFAULT_BRANCH: (self._commit_sha(), {})
        }
        self.pulls: list[FakePull] = []
        self.commit_messages: list[str] = []

    def _commit_sha(self) -> str:
        return hashlib.sha1(b"commit %d" % next(self._commits)).hexdigest()

    def commit(self, branch: str, path: str, text: str) -> None:
        """Put ``path`` on ``branch`` (a commit made outside the API, e.g. the project's own)."""
        _, files = self.branches[branch]
        self.branches[branch] = (self._commit_sha(), {**files, path: text})

    def file(self, branch: str, path: str) -> str | None:
        return self.branches[branch][1].get(path)

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        base = "/repos/{owner}/{repo}"
        app.router.add_get(base, self._get_repo)
        app.router.add_get(base + "/git/ref/heads/{branch:.+}", self._get_ref)
        app.router.add_post(base + "/git/refs", self._create_ref)
        app.router.add_get(base + "/contents/{path:.+}", self._get_content)
        app.router.add_put(base + "/contents/{path:.+}", self._put_content)
        app.router.add_get(base + "/pulls", self._list_pulls)
        app.router.add_post(base + "/pulls", self._create_pull)

    def _ref_json(self, branch: str) -> dict[str, Any]:
        sha = self.branches[branch][0]
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_{sha[:12]}",
            "url": f"{self.url}/repos/{OWNER}/{REPO}/git/refs/heads/{branch}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.url}/repos/{OWNER}/{REPO}/git/commits/{sha}",
            },
        }

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "id": 500000 + pull.number,
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{pull.number}",
            "url": f"{self.url}/repos/{OWNER}/{REPO}/pulls/{pull.number}",
            "head": {"ref": pull.head, "label": f"{OWNER}:{pull.head}"},
            "base": {"ref": pull.base, "label": f"{OWNER}:{pull.base}"},
        }

    async def _get_repo(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        return web.json_response(
            {
                "id": 1296269,
                "name": REPO,
                "full_name": f"{OWNER}/{REPO}",
                "private": True,
                "default_branch": DEFAULT_BRANCH,
            }
        )

    async def _get_ref(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        branch = request.match_info["branch"]
        if branch not in self.branches:
            return error(404, "Not Found")
        return web.json_response(self._ref_json(branch))

    async def _create_ref(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("sha"), str):
            return error(422, "Invalid request.")
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            return error(422, "Reference name must start with 'refs/' and have two slashes")
        if not ref.startswith("refs/heads/"):
            return error(422, "this server keeps branches only")
        branch = ref.removeprefix("refs/heads/")
        if branch in self.branches:
            return error(422, "Reference already exists")
        source = next((f for s, f in self.branches.values() if s == body["sha"]), None)
        if source is None:
            return error(422, "Object does not exist")
        self.branches[branch] = (body["sha"], dict(source))
        return web.json_response(self._ref_json(branch), status=201)

    async def _get_content(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        branch = request.query.get("ref", DEFAULT_BRANCH)
        path = request.match_info["path"]
        text = self.file(branch, path) if branch in self.branches else None
        if text is None:
            return error(404, "Not Found")
        encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii")  # wrapped lines
        return web.json_response(
            {
                "type": "file",
                "encoding": "base64",
                "size": len(text.encode("utf-8")),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": encoded,
                "sha": blob_sha(text),
            }
        )

    async def _put_content(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return error(422, 'Invalid request. "message" wasn\'t supplied.')
        branch = body.get("branch", DEFAULT_BRANCH)
        if branch not in self.branches:
            return error(404, "Branch not found")
        try:
            text = base64.b64decode(str(body.get("content")), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return error(422, "content is not valid Base64")
        path = request.match_info["path"]
        current = self.file(branch, path)
        if current is not None and "sha" not in body:
            return error(422, 'Invalid request. "sha" wasn\'t supplied.')
        if current is not None and body["sha"] != blob_sha(current):
            return error(409, f"{path} does not match {body['sha']}")
        self.commit(branch, path, text)
        self.commit_messages.append(body["message"])
        return web.json_response(
            {
                "content": {"name": path.rsplit("/", 1)[-1], "path": path, "sha": blob_sha(text)},
                "commit": {"sha": self.branches[branch][0], "message": body["message"]},
            },
            status=201 if current is None else 200,
        )

    async def _list_pulls(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        state = request.query.get("state", "open")
        head = request.query.get("head")
        found = [
            p
            for p in self.pulls
            if state in ("all", p.state) and (head is None or head == f"{OWNER}:{p.head}")
        ]
        return web.json_response([self._pull_json(p) for p in found])

    async def _create_pull(self, request: web.Request) -> web.Response:
        problem = self._check(request)
        if problem:
            return problem
        body = await request.json() if request.body_exists else None
        if not isinstance(body, dict):
            return error(422, "Validation Failed")
        head, base = body.get("head"), body.get("base")
        if head not in self.branches or base not in self.branches:
            return error(422, "Validation Failed: head or base is not a branch")
        if not isinstance(body.get("title"), str):
            return error(422, "Validation Failed: title")
        if any(p.head == head and p.state == "open" for p in self.pulls):
            return error(422, f"A pull request already exists for {OWNER}:{head}.")
        if self.branches[head][1] == self.branches[base][1]:
            return error(422, f"No commits between {base} and {head}")
        number = len(self.pulls) + len(self.issue_records) + 1
        pull = FakePull(number, body["title"], head, base, str(body.get("body") or ""))
        self.pulls.append(pull)
        return web.json_response(self._pull_json(pull), status=201)

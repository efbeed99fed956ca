"""`safeship env drift ENV --pr`: a pull request that brings the schema and .env.example in line
with the variables the platform has, for review.

What changes (``plan_drift``, no I/O):

- A variable the platform sets and the environment's schema does not declare is added to the
  environment's own table, its type guessed the way ``safeship init`` guesses it
  (``scaffold.templates.guess_variable``). It is secret when its name says so or its value looks
  like a credential (the redaction's detector); a secret gets no default and no value in
  .env.example. Any other gets the platform's value as its default.
- A required variable the platform does not set is removed when the environment's own table
  declares it; one inherited from another table (which other environments share) is listed for
  review and left alone, as is a value the schema refuses.
- .env.example is rendered again from the new schema (``example.render_example``).

The pull request's body names variables and never quotes a value.

GitHub's REST API (docs.github.com/en/rest; shapes checked against GitHub's OpenAPI description):

- GET /repos/{owner}/{repo} → {"default_branch", ...}
- GET /repos/{owner}/{repo}/git/ref/heads/{branch} → {"ref", "object": {"sha", "type"}}; 404
- POST /repos/{owner}/{repo}/git/refs {"ref": "refs/heads/NAME", "sha"} → 201; 422 "Reference
  already exists"
- GET /repos/{owner}/{repo}/contents/{path}?ref=BRANCH → {"type": "file", "encoding":
  "base64", "content", "sha"}; 404 when there is no such file
- PUT /repos/{owner}/{repo}/contents/{path} {"message", "content" (base64), "branch", "sha"
  (required when the file exists: the blob replaced)} → 200 (updated) or 201 (created); 409
  when "sha" is not the file's current blob
- GET /repos/{owner}/{repo}/pulls?head=OWNER:BRANCH&state=open → [{"number", "html_url"}]
- POST /repos/{owner}/{repo}/pulls {"title", "head", "base", "body"} → 201 {"number",
  "html_url"}; 422 when a pull request for the branch exists

Decisions:

- The branch is named after what it changes (``safeship/env-drift/ENV-<digest>``): a second run
  for the same drift finds its branch and its pull request instead of opening another.
- No mutation is sent twice. A request that may have been carried out (no answer, a dropped
  connection, a 5xx) is followed by a read that looks for its effect: the branch, the file's
  content on the branch, the pull request.
- The token is read from ``[github] token_env``, registered with the redaction, never printed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

from safeship.envschema.example import EXAMPLE_FILENAME, render_example
from safeship.envschema.schema import BROWSER_PREFIXES, parse_schema
from safeship.envschema.types import ValueProblem, parse_value
from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line
from safeship.notify.settings import GitHubSettings
from safeship.redaction import looks_like_credential, redact

BRANCH_PREFIX: Final = "safeship/env-drift/"
_HEADER: Final = re.compile(r"^\s*\[")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

ChangeKind = Literal["added", "removed", "review"]


class PullRequestFailed(Exception):
    """The pull request could not be opened; the message is one line without a credential."""


@dataclass(frozen=True)
class DriftChange:
    """One variable the pull request changes (or asks a reviewer to look at): names only."""

    variable: str
    kind: ChangeKind
    detail: str  # e.g. "secret: no value", "default from the platform", "missing [invalid_type]"

    def as_json(self) -> dict[str, str]:
        return {"variable": self.variable, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class DriftPlan:
    environment: str
    changes: list[DriftChange]
    schema_text: str
    example_text: str

    @property
    def edits(self) -> list[DriftChange]:
        return [c for c in self.changes if c.kind != "review"]


@dataclass(frozen=True)
class RepositoryFiles:
    """Where the schema and .env.example live in the repository (paths from its root)."""

    schema: str
    example: str


@dataclass(frozen=True)
class DriftPullRequest:
    environment: str
    changes: list[DriftChange]
    # None: the files already match the platform (nothing to open).
    url: str | None = None
    number: int | None = None
    branch: str | None = None
    already_open: bool = False  # a previous run opened it for the same changes
    files: list[str] = field(default_factory=list)  # the files the branch changed

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "url": self.url,
            "number": self.number,
            "branch": self.branch,
            "already_open": self.already_open,
            "files": self.files,
            "changes": [c.as_json() for c in self.changes],
        }


# -- the plan (no I/O) ---------------------------------------------------------------------


def plan_drift(
    schema_text: str, schema_name: str, environment: str, live: Mapping[str, str]
) -> DriftPlan:
    """The schema and .env.example that match ``live`` (the platform's variables)."""
    schema = parse_schema(schema_text, schema_name)
    env_schema = schema.environment(environment)
    changes: list[DriftChange] = []
    added_lines: list[str] = []
    for name in sorted(live.keys() - env_schema.variables.keys()):
        if not _NAME.fullmatch(name):
            changes.append(DriftChange(name, "review", "not a valid variable name"))
            continue
        line, secret = _schema_line(name, live[name])
        if secret and name.startswith(BROWSER_PREFIXES):
            # Its value reaches browsers: a credential there is a leak to fix on the platform,
            # not a variable to declare (the schema refuses a secret public variable anyway).
            changes.append(
                DriftChange(name, "review", "looks like a credential but reaches browsers")
            )
            continue
        added_lines.append(line)
        changes.append(
            DriftChange(
                name, "added", "secret: no value" if secret else "default from the platform"
            )
        )
    removed: list[str] = []
    for name, spec in env_schema.variables.items():
        raw = live.get(name)
        if not raw:
            if not spec.required:
                continue
            if spec.table == environment:
                removed.append(name)
                changes.append(DriftChange(name, "removed", "not set on the platform"))
            else:
                changes.append(
                    DriftChange(
                        name, "review", f"not set on the platform; declared in [{spec.table}]"
                    )
                )
            continue
        try:
            parse_value(spec, raw)
        except ValueProblem as problem:  # the message may quote the value: only its code
            changes.append(
                DriftChange(name, "review", f"the schema refuses its value [{problem.code}]")
            )
    new_schema = _edit_schema(schema_text, environment, added_lines, removed)
    new_example = render_example(parse_schema(new_schema, schema_name))
    changes.sort(key=lambda c: (("added", "removed", "review").index(c.kind), c.variable))
    return DriftPlan(environment, changes, new_schema, new_example)


def _schema_line(name: str, value: str) -> tuple[str, bool]:
    """The schema's line for a variable the platform has, and whether it is secret."""
    from safeship.scaffold.templates import guess_variable

    secret = bool(guess_variable(name, "").get("secret")) or looks_like_credential(value)
    # A secret's type is guessed from its name only: its value tells nothing, not even a shape.
    entry = guess_variable(name, "" if secret else value)
    if secret:
        entry["secret"] = True
        entry.pop("public", None)
    elif value:
        entry["default"] = value
    entry["description"] = "Added from the platform's variables by `safeship env drift --pr`."
    fields = ", ".join(f"{key} = {_toml_value(v)}" for key, v in entry.items())
    return f"{name} = {{ {fields} }}", secret


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _edit_schema(text: str, environment: str, added: list[str], removed: list[str]) -> str:
    """``text`` with ``removed`` variables' lines of [environment] dropped and ``added`` lines
    appended to that table."""
    lines = text.splitlines()
    start, end = _table_span(lines, environment)
    gone = set(removed)
    kept = lines[:start]
    for line in lines[start:end]:
        assignment = re.match(r"\s*([A-Za-z0-9_-]+)\s*=", line)
        if assignment and assignment.group(1) in gone:
            continue
        kept.append(line)
    while len(kept) > start and not kept[-1].strip():  # added lines go after the last one
        kept.pop()
    tail = lines[end:]
    separator = [""] if tail else []
    return "\n".join([*kept, *added, *separator, *tail]) + "\n"


def _table_span(lines: list[str], environment: str) -> tuple[int, int]:
    """The lines of the ``[environment]`` table: from after its header to the next header."""
    header = re.compile(rf"^\s*\[\s*(?:{re.escape(environment)}|\"{re.escape(environment)}\")\s*\]")
    start = next((i + 1 for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:  # the schema parsed, so the table is there under another spelling
        raise PullRequestFailed(f"cannot find the [{environment}] header to edit in the schema")
    end = next((i for i in range(start, len(lines)) if _HEADER.match(lines[i])), len(lines))
    return start, end


def pull_request_body(plan: DriftPlan, files: RepositoryFiles) -> str:
    """What the pull request says: each change by variable name, never a value."""
    parts = [
        f"`safeship env drift {plan.environment} --pr` found variables on the platform that "
        f"`{files.schema}` and `{files.example}` do not describe (or the other way round). "
        "This change brings them in line: names and non-secret defaults only; secrets get no "
        "value.",
    ]
    titles = {
        "added": "Added to the schema (set on the platform, not declared)",
        "removed": f"Removed from [{plan.environment}] (declared, not set on the platform)",
        "review": "For review (not changed)",
    }
    for kind, title in titles.items():
        found = [c for c in plan.changes if c.kind == kind]
        if found:
            parts.append(
                f"### {title}\n\n" + "\n".join(f"- `{c.variable}`: {c.detail}" for c in found)
            )
    return redact("\n\n".join(parts) + "\n")


# -- GitHub ----------------------------------------------------------------------------------


class _Repository:
    def __init__(
        self, settings: GitHubSettings, token: str, sleep: Callable[[float], None]
    ) -> None:
        self.settings = settings
        self.owner = settings.repo.split("/", 1)[0]
        self.base = f"{settings.api_url.rstrip('/')}/repos/{settings.repo}"
        self.api = JsonApi(
            "github",
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "safeship",
                "Authorization": f"Bearer {token}",
            },
            timeout=settings.request_timeout,
            retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
            secrets=[token],
            sleep=sleep,
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any | None:
        """The JSON of a GET, or None on 404."""
        try:
            return self.api.request("GET", self.base + path, params=params)[1]
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def send(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.api.request(method, self.base + path, json=body, idempotent=False)

    def default_branch(self) -> str:
        repo = self.get("")
        branch = repo.get("default_branch") if isinstance(repo, dict) else None
        if not isinstance(branch, str) or not branch:
            raise PullRequestFailed(f"github: {self.settings.repo}: no such repository")
        return branch

    def head(self, branch: str) -> str | None:
        ref = self.get(f"/git/ref/heads/{quote(branch)}")
        sha = ref.get("object", {}).get("sha") if isinstance(ref, dict) else None
        return sha if isinstance(sha, str) else None

    def file(self, path: str, branch: str) -> tuple[str, str] | None:
        """(text, blob sha) of ``path`` on ``branch``, or None when there is no such file."""
        found = self.get(f"/contents/{quote(path)}", {"ref": branch})
        if found is None:
            return None
        if not isinstance(found, dict) or found.get("type") != "file":
            raise PullRequestFailed(f"github: {path} is not a file on {branch}")
        try:
            text = base64.b64decode(str(found.get("content", ""))).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise PullRequestFailed(f"github: {path} on {branch} is not UTF-8 text") from None
        return text, str(found.get("sha", ""))

    def open_pull(self, branch: str) -> dict[str, Any] | None:
        found = self.get("/pulls", {"head": f"{self.owner}:{branch}", "state": "open"})
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return found[0]
        return None


def open_drift_pull_request(
    settings: GitHubSettings,
    token: str,
    environment: str,
    files: RepositoryFiles,
    live: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DriftPullRequest:
    """Read the files from the default branch, and open a pull request with the plan's edits
    (or find the one a previous run opened). PullRequestFailed (one line) when GitHub refuses."""
    repo = _Repository(settings, token, sleep)
    try:
        return _open(repo, environment, files, live)
    except ApiError as exc:
        raise PullRequestFailed(one_line(str(exc))) from None
    finally:
        repo.api.close()


def _open(
    repo: _Repository, environment: str, files: RepositoryFiles, live: Mapping[str, str]
) -> DriftPullRequest:
    base = repo.default_branch()
    schema = repo.file(files.schema, base)
    if schema is None:
        raise PullRequestFailed(f"github: {files.schema} is not on {base}: commit the schema first")
    example = repo.file(files.example, base)
    plan = plan_drift(schema[0], Path(files.schema).name, environment, live)
    wanted = {files.schema: plan.schema_text, files.example: plan.example_text}
    current = {files.schema: schema[0], files.example: example[0] if example else None}
    changed = [path for path, text in wanted.items() if current[path] != text]
    if not changed:
        return DriftPullRequest(environment, plan.changes)
    digest = hashlib.sha256("\0".join(wanted[p] for p in changed).encode()).hexdigest()[:10]
    branch = f"{BRANCH_PREFIX}{environment}-{digest}"
    existing = repo.open_pull(branch)
    if existing is not None:
        return _result(plan, existing, branch, changed, already_open=True)
    _create_branch(repo, branch, base)
    for path in changed:
        _commit_file(repo, path, wanted[path], branch, environment)
    title = one_line(
        f"env: bring {files.example} and {files.schema} in line with {environment}", 200
    )
    body = {"title": title, "head": branch, "base": base, "body": pull_request_body(plan, files)}
    try:
        _, pull = repo.send("POST", "/pulls", body)
    except ApiError as exc:
        if not (exc.maybe_applied or exc.status == 422):
            raise
        pull = repo.open_pull(branch)  # opened by the request that got no answer, or before
        if pull is None:
            raise
    return _result(plan, pull, branch, changed, already_open=False)


def _result(
    plan: DriftPlan, pull: Any, branch: str, changed: list[str], *, already_open: bool
) -> DriftPullRequest:
    url = pull.get("html_url") if isinstance(pull, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if not isinstance(url, str) or not isinstance(number, int):
        raise PullRequestFailed("github: the pull request's answer has no number or html_url")
    return DriftPullRequest(
        plan.environment, plan.changes, url, number, branch, already_open, changed
    )


def _create_branch(repo: _Repository, branch: str, base: str) -> None:
    if repo.head(branch) is not None:  # a previous run made it (and stopped before the PR)
        return
    sha = repo.head(base)
    if sha is None:
        raise PullRequestFailed(f"github: the default branch {base} has no commit")
    try:
        repo.send("POST", "/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})
    except ApiError as exc:
        if not (exc.maybe_applied or exc.status == 422) or repo.head(branch) is None:
            raise


def _commit_file(repo: _Repository, path: str, text: str, branch: str, environment: str) -> None:
    on_branch = repo.file(path, branch)
    if on_branch is not None and on_branch[0] == text:  # committed by a previous run
        return
    body: dict[str, Any] = {
        "message": f"env: {Path(path).name} in line with the variables of {environment}",
        "content": base64.b64encode(text.encode("utf-8")).decode("ascii"),
        "branch": branch,
    }
    if on_branch is not None:
        body["sha"] = on_branch[1]
    try:
        repo.send("PUT", f"/contents/{quote(path)}", body)
    except ApiError as exc:
        if not exc.maybe_applied:
            raise
        after = repo.file(path, branch)
        if after is None or after[0] != text:
            raise


def repository_files(schema_path: Path) -> RepositoryFiles:
    """The schema's and .env.example's paths from the root of the git checkout holding them
    (the schema's own name when it is in no checkout)."""
    resolved = schema_path.resolve()
    root = next((d for d in resolved.parents if (d / ".git").exists()), None)
    relative = resolved.relative_to(root) if root else Path(resolved.name)
    return RepositoryFiles(relative.as_posix(), (relative.parent / EXAMPLE_FILENAME).as_posix())

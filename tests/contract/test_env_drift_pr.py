"""`safeship env drift ENV --pr` against the loopback GitHub server (github_repo_api.py): the
branch, the two files and the pull request it opens; a second run finding them; a dropped answer
reconciled without a second request; never a secret value in anything sent."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_api import OWNER, REPO, TOKEN
from github_repo_api import DEFAULT_BRANCH, GitHubRepoServer

from safeship import core
from safeship.envschema.drift_pr import BRANCH_PREFIX, PullRequestFailed, plan_drift
from safeship.envschema.example import parity
from safeship.envschema.problems import EnvSourceError
from safeship.envschema.schema import parse_schema

SCHEMA = """\
[base]
DATABASE_URL = { type = "string", startswith = "postgresql://", secret = true }
LOG_LEVEL = { type = "enum", values = ["debug", "info"], default = "info" }
SENTRY_DSN = { type = "string" }

[production]
extends = "base"
LEGACY_FLAG = { type = "bool" }
WORKERS = { type = "int", min = 1 }
"""
STRIPE_SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xk2"
SESSION_VALUE = "plain-words-but-named-as-a-token"
DB_PASSWORD = "Zq8rXw2Lm5Tn"
# What the production target gives its release: two undeclared variables that are secrets (one
# by its value, one by its name), one that is not; LEGACY_FLAG and SENTRY_DSN are not set.
PLATFORM = {
    "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db.internal/app",
    "WORKERS": "4",
    "FEATURE_SEARCH": "on",
    "PAYMENTS_KEY_VALUE": STRIPE_SECRET,
    "SESSION_TOKEN": SESSION_VALUE,
}
SECRETS = (STRIPE_SECRET, SESSION_VALUE, DB_PASSWORD)


@pytest.fixture
def github_repo() -> Iterator[GitHubRepoServer]:
    server = GitHubRepoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github_repo: GitHubRepoServer
) -> core.EnvProject:
    """A git checkout whose schema sits in config/; production is a local target (nothing runs)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "env.schema.toml").write_text(SCHEMA)
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in PLATFORM.items())
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "t"\nenv_schema = "config/env.schema.toml"\n\n'
        f'[github]\nrepo = "{OWNER}/{REPO}"\napi_url = "{github_repo.url}"\n'
        'token_env = "T_GITHUB_TOKEN"\nretries = 0\n\n'
        "[environments.production]\nport = 18191\n"
        "[environments.production.target]\n"
        'command = ["python", "-m", "http.server", "{port}"]\n'
        f"env = {{ {table} }}\n"
    )
    github_repo.commit(DEFAULT_BRANCH, "config/env.schema.toml", SCHEMA)
    monkeypatch.setenv("T_GITHUB_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    return core.EnvProject()


def sent_text(server: GitHubRepoServer) -> str:
    """Everything the client sent, file contents decoded."""
    parts = []
    for received in server.received:
        parts.append(json.dumps(received.body) + json.dumps(received.query) + received.path)
        if isinstance(received.body, dict) and "content" in received.body:
            parts.append(base64.b64decode(received.body["content"]).decode())
    return "\n".join(parts)


def test_opens_a_pull_request_with_names_and_non_secret_defaults_only(
    project: core.EnvProject, github_repo: GitHubRepoServer, tmp_path: Path
) -> None:
    opened = core.env_drift_pr(project, "production", core.EnvSources())

    assert opened.url == f"https://github.com/{OWNER}/{REPO}/pull/{opened.number}"
    assert opened.branch is not None and opened.branch.startswith(BRANCH_PREFIX + "production-")
    assert opened.files == ["config/env.schema.toml", "config/.env.example"]
    assert {(c.variable, c.kind) for c in opened.changes} == {
        ("FEATURE_SEARCH", "added"),
        ("PAYMENTS_KEY_VALUE", "added"),
        ("SESSION_TOKEN", "added"),
        ("LEGACY_FLAG", "removed"),
        ("SENTRY_DSN", "review"),  # declared in [base], which other environments share
    }
    [pull] = github_repo.pulls
    assert (pull.head, pull.base) == (opened.branch, DEFAULT_BRANCH)
    for name in ("FEATURE_SEARCH", "PAYMENTS_KEY_VALUE", "SESSION_TOKEN", "LEGACY_FLAG"):
        assert f"`{name}`" in pull.body
    # The default branch is untouched; the branch has both files.
    assert github_repo.file(DEFAULT_BRANCH, "config/.env.example") is None
    schema_text = github_repo.file(opened.branch, "config/env.schema.toml")
    example_text = github_repo.file(opened.branch, "config/.env.example")
    assert schema_text is not None and example_text is not None
    schema = parse_schema(schema_text, "env.schema.toml")
    production = schema.environment("production").variables
    assert production["FEATURE_SEARCH"].default == "on" and not production["FEATURE_SEARCH"].secret
    assert (
        production["PAYMENTS_KEY_VALUE"].secret and production["PAYMENTS_KEY_VALUE"].default is None
    )
    assert production["SESSION_TOKEN"].secret and production["SESSION_TOKEN"].default is None
    assert "LEGACY_FLAG" not in production and "SENTRY_DSN" in production
    assert "\nFEATURE_SEARCH=on\n" in example_text and "\nSESSION_TOKEN=\n" in example_text
    (tmp_path / "example").write_text(example_text)
    assert parity(schema, tmp_path / "example").ok
    # No secret value anywhere in what was sent: requests, the body, the files.
    everything = sent_text(github_repo)
    for secret in SECRETS:
        assert secret not in everything


def test_a_second_run_finds_its_pull_request_and_sends_no_mutation(
    project: core.EnvProject, github_repo: GitHubRepoServer
) -> None:
    first = core.env_drift_pr(project, "production", core.EnvSources())
    before = len(github_repo.received)
    again = core.env_drift_pr(project, "production", core.EnvSources())
    assert again.already_open and (again.number, again.branch) == (first.number, first.branch)
    assert [r.method for r in github_repo.received[before:]] == ["GET"] * 4
    assert len(github_repo.pulls) == 1


def test_a_pull_request_whose_answer_was_dropped_is_found_not_opened_twice(
    project: core.EnvProject, github_repo: GitHubRepoServer
) -> None:
    github_repo.drop_after(lambda r: r.method == "POST" and r.path.endswith("/pulls"))
    opened = core.env_drift_pr(project, "production", core.EnvSources())
    assert len(github_repo.dropped) == 1
    assert [r.method for r in github_repo.calls("/pulls")].count("POST") == 1
    [pull] = github_repo.pulls
    assert opened.number == pull.number and not opened.already_open


def test_a_dropped_file_commit_is_checked_on_the_branch_not_resent(
    project: core.EnvProject, github_repo: GitHubRepoServer
) -> None:
    github_repo.drop_after(lambda r: r.method == "PUT")
    opened = core.env_drift_pr(project, "production", core.EnvSources())
    assert len(github_repo.dropped) == 1 and opened.number is not None
    assert len([r for r in github_repo.received if r.method == "PUT"]) == 2  # one per file
    assert len(github_repo.commit_messages) == 2


def test_nothing_to_change_opens_nothing(
    project: core.EnvProject, github_repo: GitHubRepoServer
) -> None:
    plan = plan_drift(SCHEMA, "env.schema.toml", "production", PLATFORM)
    github_repo.commit(DEFAULT_BRANCH, "config/env.schema.toml", plan.schema_text)
    github_repo.commit(DEFAULT_BRANCH, "config/.env.example", plan.example_text)
    opened = core.env_drift_pr(project, "production", core.EnvSources())
    assert opened.url is None and github_repo.pulls == []
    assert {r.method for r in github_repo.received} == {"GET"}


def test_refusals_are_one_line_without_the_token(
    project: core.EnvProject, github_repo: GitHubRepoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_repo.fail("403", times=None)
    with pytest.raises(PullRequestFailed) as refused:
        core.env_drift_pr(project, "production", core.EnvSources())
    assert "credentials were rejected" in str(refused.value) and "\n" not in str(refused.value)
    assert TOKEN not in str(refused.value)
    monkeypatch.delenv("T_GITHUB_TOKEN")
    with pytest.raises(EnvSourceError, match="T_GITHUB_TOKEN is not set"):
        core.env_drift_pr(project, "production", core.EnvSources())


def test_the_cli_prints_the_changes_and_the_pull_request(
    project: core.EnvProject, github_repo: GitHubRepoServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safeship", "env", "drift", "production", "--pr"],
        cwd=tmp_path,
        env={**os.environ, "T_GITHUB_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [pull] = github_repo.pulls
    assert f"opened pull request #{pull.number}" in result.stdout
    assert "added SESSION_TOKEN: secret: no value" in result.stdout
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr

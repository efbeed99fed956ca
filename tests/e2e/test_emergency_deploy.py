"""`safeship deploy ENV --version V --emergency` on the demo workspace: CI skipped, nothing else.

The env schema gate, health verification and rollback run as in every deploy; the deployment
records who triggered it and ``path = "local-emergency"``; with ``[github]`` and its token a
GitHub issue for the hotfix pull request is opened (the loopback GitHub server of
tests/contract), otherwise a reminder to open one is printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The loopback GitHub server lives with the contract tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "contract"))
from github_api import OWNER, REPO, TOKEN, GitHubServer

from safeship.pipeline.lease import operator
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
SAFESHIP = [sys.executable, "-m", "safeship"]
REMINDER = "reminder: this emergency deploy skipped CI; open a hotfix pull request with "


def emergency(
    ws: Workspace, version: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, "deploy", ENV, "--version", version, "--emergency", *extra],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def github_api() -> Iterator[GitHubServer]:
    server = GitHubServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_emergency_deploy_keeps_verification_and_rollback(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(behaviours={"v2": "unhealthy_after=0.8"}, bake_time=0.2)

    first = emergency(ws, "v1", "--triggered-by", "alice", "--commit", "c0ffee1")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[-2] == "v1 succeeded (path local-emergency)"
    assert lines[-1] == REMINDER + "commit c0ffee1 so the main branch and CI have it"

    ws.set_bake_time(2.0)  # a first deploy bakes too: v1 went in quickly
    second = emergency(ws, "v2", "--triggered-by", "alice")
    assert second.returncode == 1
    assert "Traceback" not in second.stdout + second.stderr
    assert "v2 rolled_back" in second.stdout and "(path local-emergency)" in second.stdout
    assert second.stdout.strip().splitlines()[-1] == (
        REMINDER + "version v2 so the main branch and CI have it"
    )

    with Registry(ws.loaded.registry_url()) as registry:
        v2, v1 = registry.history(ENV)
    for record in (v1, v2):
        assert record.triggered_by == "alice"
        assert record.path == "local-emergency"
        assert record.notes == f"operator: {operator()}"
        assert record.checks  # health verification ran
    assert v1.status == "succeeded"
    assert v2.status == "rolled_back" and v2.rollback_reason
    # v1 serves again after the rollback.
    backends = {b.name: b.weight for b in ws.environment().router.backends()}
    assert backends == {"v1": 100}


def test_emergency_deploy_never_skips_env_validation(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    (ws.root / "env.schema.toml").write_text('[local]\nAPI_TOKEN = { type = "string" }\n')

    result = emergency(ws, "v1")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "v1 failed" in result.stdout and "API_TOKEN" in result.stdout
    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
    assert record.status == "failed" and record.path == "local-emergency"
    assert ws.environment().target.releases() == []  # no release was started


def test_emergency_deploy_opens_a_github_issue_or_falls_back_to_the_reminder(
    workspace_factory: WorkspaceFactory, github_api: GitHubServer
) -> None:
    ws = workspace_factory(
        bake_time=0.3,  # the canary of v2 has nothing to watch: no load, no bad behaviour
        tables=f"""
[github]
repo = "{OWNER}/{REPO}"
api_url = "{github_api.url}"
request_timeout = 2
issue_labels = ["hotfix"]
""",
    )
    token = {"GITHUB_TOKEN": TOKEN}

    first = emergency(ws, "v1", "--triggered-by", "alice", "--commit", "c0ffee1", env=token)

    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stdout + first.stderr and TOKEN not in first.stdout
    [issue] = github_api.issues
    assert first.stdout.strip().splitlines()[-1] == (
        f"emergency deploy issue opened: https://github.com/{OWNER}/{REPO}/issues/1 "
        "(open a hotfix pull request with commit c0ffee1)"
    )
    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
    assert issue["title"] == f"Emergency deploy of v1 to {ENV}: open a hotfix PR"
    assert issue["labels"] == ["hotfix"]
    body = issue["body"]
    for fact in (
        "| version | v1 |",
        "| commit | c0ffee1 |",
        "| triggered by | alice |",
        f"| run by | {operator()} |",
        f"| safeship deployment | {record.id} |",
        "| outcome | succeeded |",
        "| when | 20",
    ):
        assert fact in body, fact
    # The deploy itself is a GitHub deployment too (the event-bus sink), path local-emergency.
    [deployment] = github_api.deployments.values()
    assert [s["state"] for s in deployment.statuses] == ["in_progress", "success"]

    # GitHub refusing the issue (issues disabled: 410) is a warning, and the reminder instead.
    github_api.issues_enabled = False
    second = emergency(ws, "v2", "--triggered-by", "alice", env=token)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == (
        REMINDER + "version v2 so the main branch and CI have it"
    )
    assert second.stderr.strip().splitlines()[-1] == (
        "safeship: warning: the emergency deploy's GitHub issue was not opened: "
        "github issues: HTTP 410: Issues are disabled for this repo"
    )
    assert len(github_api.issues) == 1

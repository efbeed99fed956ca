"""GitHub Environments' required reviewers as approvals: a deploy running in a GitHub Actions
job bound to the protected environment "production" reads who approved the run (the loopback
server in github_reviews_api.py) and records each as an approval ("github:LOGIN", via github):
the approval gate passes with nobody answering in safeship."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from github_api import OWNER, REPO, TOKEN
from github_reviews_api import GitHubReviewsServer

from safeship import core
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

RUN_ID = 424242
GITHUB = """
[environments.local.gates.approval]
required = 1
timeout = 5
github_environment = "production"

[github]
repo = "{owner}/{repo}"
token_env = "SAFESHIP_TEST_GH"
api_url = "{url}"
retries = 0
"""


@pytest.fixture
def reviews_api() -> Iterator[GitHubReviewsServer]:
    server = GitHubReviewsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", str(RUN_ID))
    monkeypatch.setenv("GITHUB_REPOSITORY", f"{OWNER}/{REPO}")
    monkeypatch.setenv("SAFESHIP_TEST_GH", TOKEN)


def test_the_environment_s_reviewers_approve_the_deploy(
    workspace_factory: Callable[..., Workspace],
    reviews_api: GitHubReviewsServer,
    in_github_actions: None,
) -> None:
    reviews_api.review(RUN_ID, "octocat", "approved", "production", "ship it")
    reviews_api.review(RUN_ID, "hubot", "approved", "staging", "")  # another environment
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        tables=GITHUB.format(owner=OWNER, repo=REPO, url=reviews_api.url),
    )

    outcome = operations.deploy(ws.loaded, ENV, "v1", triggered_by="ci")

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    [approval] = core.pending_approval(ws.loaded, outcome.deployment_id).answers
    assert (approval.user, approval.decision, approval.reason, approval.via) == (
        "github:octocat", "approve", "ship it", "github",
    )  # fmt: skip
    with Registry(ws.loaded.registry_url()) as registry:
        [gate] = [g for g in registry.gate_results(outcome.deployment_id) if g.gate == "approval"]
    assert (gate.outcome, gate.reason) == ("passed", "approved by github:octocat")
    [call] = reviews_api.calls(f"/actions/runs/{RUN_ID}/approvals")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


def test_unreadable_reviews_leave_the_deploy_waiting_for_safeship_approvers(
    workspace_factory: Callable[..., Workspace],
    reviews_api: GitHubReviewsServer,
    in_github_actions: None,
) -> None:
    reviews_api.fail("500", times=None)
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        tables=GITHUB.format(owner=OWNER, repo=REPO, url=reviews_api.url).replace(
            "timeout = 5", "timeout = 0.5"
        ),
    )

    outcome = operations.deploy(ws.loaded, ENV, "v1", triggered_by="ci")

    assert outcome.status is Status.ABORTED
    assert outcome.reason == "approval gate: no approval within 0.5 s (0 of 1)"
    with Registry(ws.loaded.registry_url()) as registry:
        [gate] = [g for g in registry.gate_results(outcome.deployment_id) if g.gate == "approval"]
    assert (
        gate.figures["github"]
        == "github approvals: gave up after 1 attempts: server error (HTTP 500)"
    )

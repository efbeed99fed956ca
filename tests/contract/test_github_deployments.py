"""GitHub deployment statuses against the loopback GitHub server: the client, and the event sink
on real deployments of the local target."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from github_api import OWNER, REPO, TOKEN, GitHubServer

from safeship.events import Event, EventBus, EventName
from safeship.httpapi import ApiError, RetryPolicy
from safeship.notify.github_deployments import GitHubDeployments
from safeship.notify.github_sink import GitHubDeploymentSink, github_sink
from safeship.notify.settings import GitHubSettings
from safeship.pipeline import operations
from safeship.pipeline.deploy import Deployer
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]


def client(server: GitHubServer, token: str = TOKEN, **retry: float) -> GitHubDeployments:
    sleeps: list[float] = []
    return GitHubDeployments(
        f"{OWNER}/{REPO}",
        token,
        api_url=server.url,
        timeout=1.0,
        retry=RetryPolicy(attempts=3, backoff=0.01, max_wait=2.0, **retry),
        sleep=sleeps.append,
    )


SAFESHIP_ID = "0b1c7f9e-5d43-4f1e-9a53-5d7d7b1c2a10"


def event(name: EventName, version: str, **fields: Any) -> Event:
    return Event(event=name, deployment_id=SAFESHIP_ID, environment=ENV, version=version, **fields)


def deploy_with_sink(ws: Workspace, sink: GitHubDeploymentSink, version: str) -> str:
    """A real deployment (Deployer on the local target) with the sink on its event bus."""
    with operations.open_session(ws.loaded, ENV) as s:
        s.bus.subscribe(sink)
        deployer = Deployer(ENV, s.env.settings, s.env.target, s.env.router, s.registry, s.bus)
        outcome = deployer.deploy(version, commit=f"commit-{version}")
    return outcome.status.value


def test_success_path_creates_the_deployment_and_reports_in_progress_then_success(
    github_api: GitHubServer, workspace: Workspace
) -> None:
    errors = io.StringIO()
    sink = GitHubDeploymentSink(
        client(github_api),
        environment_url="https://{environment}.shop.example",
        log_url="https://ci.example/runs/1",
        errors=errors,
    )
    try:
        assert deploy_with_sink(workspace, sink, "v1") == "succeeded"
    finally:
        sink.close()
    [deployment] = github_api.deployments.values()
    safeship_id = operations.history(workspace.loaded, ENV, limit=1)[0].id
    assert deployment.body == {
        "ref": "commit-v1",
        "environment": ENV,
        "required_contexts": [],
        "auto_merge": False,
        "payload": {"safeship_deployment_id": safeship_id, "version": "v1"},
        "description": "safeship deploy of v1",
        "production_environment": False,
    }
    assert [s["state"] for s in deployment.statuses] == ["in_progress", "success"]
    assert deployment.statuses[-1] == {
        "state": "success",
        "description": "v1 deployed",
        "environment_url": f"https://{ENV}.shop.example",
        "log_url": "https://ci.example/runs/1",
        "auto_inactive": True,
    }
    request = github_api.calls("/deployments")[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert errors.getvalue() == ""


def test_a_rolled_back_deploy_reports_one_failure_with_its_reason(
    github_api: GitHubServer, workspace_factory: WorkspaceFactory
) -> None:
    ws = workspace_factory(behaviours={"v2": "crash_after=0.5"}, bake_time=0.2)
    sink = GitHubDeploymentSink(client(github_api))
    try:
        assert deploy_with_sink(ws, sink, "v1") == "succeeded"  # a first deploy bakes: quickly
        ws.set_bake_time(3.0)
        assert deploy_with_sink(ws, sink, "v2") == "rolled_back"
    finally:
        sink.close()
    second = max(github_api.deployments.values(), key=lambda d: d.id)
    assert second.body["ref"] == "commit-v2"
    assert [s["state"] for s in second.statuses] == ["in_progress", "failure"]
    assert second.statuses[-1]["description"] == (
        "v2 rolled_back: release v2 exited while serving traffic"
    )


def test_long_reasons_are_cut_to_140_characters_and_secrets_masked(
    github_api: GitHubServer,
) -> None:
    sink = GitHubDeploymentSink(client(github_api))
    bus = EventBus([sink])
    bus.publish(event("deployment.started", "v9", commit="abc123"))
    reason = f"env check failed: DATABASE_URL=postgres://app:{TOKEN}@db/x " + "x" * 300
    bus.publish(event("deployment.failed", "v9", attributes={"status": "failed", "reason": reason}))
    sink.close()
    [deployment] = github_api.deployments.values()
    failure = deployment.statuses[-1]
    assert failure["state"] == "failure"
    assert len(failure["description"]) <= 140
    assert failure["description"].startswith("v9 failed: env check failed: DATABASE_URL=")
    assert TOKEN not in str(github_api.received[-1].body)


def test_429_and_5xx_on_statuses_are_retried_but_creating_is_not(
    github_api: GitHubServer,
) -> None:
    api = client(github_api)
    github_api.fail("429", times=1)
    github_id = api.create("abc123", "staging", payload={"safeship_deployment_id": "x"})
    assert len(github_api.calls("/deployments")) == 2  # refused once (429), then created
    github_api.fail("502", times=2)
    api.set_status(github_id, "in_progress")
    assert [s["state"] for s in github_api.deployments[github_id].statuses] == ["in_progress"]
    github_api.fail("502", times=1)
    with pytest.raises(
        ApiError,
        match=r"^github deployments: server error \(HTTP 502\) after the request was sent "
        r"\(not resent: it may have been carried out\)$",
    ):
        api.create("abc123", "staging", payload={})
    assert len(github_api.deployments) == 1  # a POST that may have been carried out: no retry


def test_a_failing_or_hanging_github_never_blocks_or_fails_the_deploy_and_hides_the_token(
    github_api: GitHubServer,
) -> None:
    errors = io.StringIO()
    sink = GitHubDeploymentSink(client(github_api, token=TOKEN + "x"), errors=errors)
    bus = EventBus([sink])
    github_api.hang_seconds = 2.0
    github_api.fail("hang", times=1)
    bus.publish(event("deployment.started", "v1"))
    bus.publish(event("deployment.succeeded", "v1"))
    # Queued, not sent on the deploy's thread: sending here would have returned only after the
    # hanging request's 1 s timeout, with its failure reported.
    assert errors.getvalue() == ""
    sink.close(timeout=10)
    assert bus.failures == 0
    lines = errors.getvalue().splitlines()
    assert lines == [
        "safeship: github deployment status: deployment.started not reported: "
        "github deployments: no answer within 1 s after the request was sent (not resent: it "
        "may have been carried out)"
    ]
    # The bad token is rejected on a later create, in one line, without the token.
    sink = GitHubDeploymentSink(client(github_api, token=TOKEN + "x"), errors=errors)
    EventBus([sink]).publish(event("deployment.started", "v2"))
    sink.close()
    last = errors.getvalue().splitlines()[-1]
    assert "credentials were rejected (HTTP 401: Bad credentials)" in last
    assert TOKEN not in errors.getvalue()


def test_settings_without_a_token_disable_the_sink_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, github_api: GitHubServer
) -> None:
    settings = GitHubSettings(repo=f"{OWNER}/{REPO}", token_env="SAFESHIP_TEST_GH", api_url="x")
    errors = io.StringIO()
    monkeypatch.delenv("SAFESHIP_TEST_GH", raising=False)
    assert github_sink(settings, errors) is None
    assert errors.getvalue() == (
        "safeship: warning: [github] is configured but SAFESHIP_TEST_GH is not set; "
        "no GitHub deployment statuses\n"
    )
    assert github_sink(None) is None
    monkeypatch.setenv("SAFESHIP_TEST_GH", TOKEN)
    sink = github_sink(settings.model_copy(update={"api_url": github_api.url}), errors)
    assert sink is not None
    sink.close()

"""The github-actions path against the loopback GitHub server, failover to railway-native
against the loopback Railway server, and `safeship paths check`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from github_api import OWNER, REPO, TOKEN, WORKFLOW, GitHubServer
from loopback import Received
from railway_api import ACCOUNT_TOKEN, ENVIRONMENT, PROJECT, SERVICE, RailwayServer

from safeship.paths.base import PathError
from safeship.paths.failover import CircuitBreaker, Failover, deploy_with_failover
from safeship.paths.github_actions import GitHubActionsPath
from safeship.paths.local import Runner
from safeship.paths.railway_native import RailwayNativePath
from safeship.paths.settings import GitHubActionsPathSettings, RailwayNativePathSettings
from safeship.targets.railway import RailwayTarget
from safeship.targets.settings import RailwayTargetSettings


def gh_settings(server: GitHubServer, **overrides: Any) -> GitHubActionsPathSettings:
    values: dict[str, Any] = {
        "repo": f"{OWNER}/{REPO}",
        "workflow": WORKFLOW,
        "api_url": server.url,
        "status_url": server.status_url,
        "poll_interval": 0.01,
        "request_timeout": 0.5,
        "retries": 1,
        "max_retry_wait": 2.0,
        "run_timeout": 5.0,
    }
    values.update(overrides)
    return GitHubActionsPathSettings(**values)


def rw_settings(server: RailwayServer) -> RailwayNativePathSettings:
    return RailwayNativePathSettings(
        endpoint=server.graphql_url,
        project_id=PROJECT,
        environment_id=ENVIRONMENT,
        environment_ids={"production": ENVIRONMENT, "staging": "env-staging"},
        service_id=SERVICE,
        poll_interval=0.01,
        request_timeout=0.5,
        deploy_timeout=5.0,
    )


def railway_runner(server: RailwayServer) -> Runner:
    """What the pipeline does for the railway-native path, reduced to its target's deploy
    (the whole pipeline through it: test_deploy_via_paths.py)."""

    def run(version: str, commit: str | None, environment: str) -> bool:
        settings = RailwayTargetSettings(
            **rw_settings(server).model_dump(exclude={"environment_ids"})
        )
        target = RailwayTarget(environment, settings, token=ACCOUNT_TOKEN)
        return bool(target.deploy(version, commit).url)

    return run


def test_dispatch_returns_the_run_id_and_follows_it(github_api: GitHubServer) -> None:
    path = GitHubActionsPath(gh_settings(github_api), token=TOKEN)
    assert path.is_available().ok
    run_id = path.trigger("v1.4.0", "abc123", "production")
    outcome = path.follow(run_id)

    assert outcome.ok and outcome.conclusion == "success" and outcome.run_id == run_id
    assert outcome.url == f"https://github.com/{OWNER}/{REPO}/actions/runs/{run_id}"
    assert github_api.dispatches == [
        {
            "ref": "main",
            "inputs": {"version": "v1.4.0", "environment": "production", "commit": "abc123"},
            "return_run_details": True,
        }
    ]
    dispatch = github_api.calls("/dispatches")[0]
    assert dispatch.headers["Authorization"] == f"Bearer {TOKEN}"
    assert dispatch.headers["X-GitHub-Api-Version"] == "2022-11-28"


def is_dispatch(received: Received) -> bool:
    return received.method == "POST" and received.path.endswith("/dispatches")


def test_dropped_dispatch_adopts_the_run_it_created(github_api: GitHubServer) -> None:
    """GitHub created the run, then the connection dropped before the answer: one dispatch
    arrives (no second workflow run), and the run that appeared is followed."""
    github_api.add_billing_failed_run()  # an older run, there before the dispatch
    github_api.drop_after(is_dispatch)
    notes: list[str] = []
    path = GitHubActionsPath(gh_settings(github_api), token=TOKEN, notice=notes.append)

    run_id = path.trigger("v1.4.0", None, "production")

    assert len(github_api.dispatches) == 1
    newest = max(github_api.runs)
    assert run_id == str(newest)
    assert notes == [
        "github: the connection dropped after the workflow dispatch was sent; adopted run "
        f"{newest} created at {github_api.runs[newest].created_at}"
    ]
    assert path.run_url(run_id) == f"https://github.com/{OWNER}/{REPO}/actions/runs/{newest}"
    assert path.follow(run_id).ok


def test_unanswered_dispatch_with_no_new_run_is_one_line_not_resent(
    github_api: GitHubServer,
) -> None:
    github_api.fail("hang", times=1, match=is_dispatch)
    path = GitHubActionsPath(gh_settings(github_api, reconcile_timeout=0.3), token=TOKEN)
    with pytest.raises(PathError) as failed:
        path.trigger("v1.4.0", None, "production")
    assert str(failed.value) == (
        "github: no answer came after the workflow dispatch was sent, and no new run appeared "
        "within 0.3 s; not resent: check github before trying again"
    )
    assert len(github_api.calls("/dispatches")) == 1 and github_api.runs == {}


def test_run_failing_after_start_is_not_a_failover_case(github_api: GitHubServer) -> None:
    github_api.fail_next_run = True
    path = GitHubActionsPath(gh_settings(github_api), token=TOKEN)
    outcome = path.follow(path.trigger("v1.4.0", None, "production"))
    assert (outcome.ok, outcome.started, outcome.conclusion) == (False, True, "failure")


def test_billing_failure_marks_the_path_unavailable(github_api: GitHubServer) -> None:
    github_api.add_billing_failed_run()
    availability = GitHubActionsPath(gh_settings(github_api), token=TOKEN).is_available()
    assert not availability.ok
    assert availability.reason.startswith("billing: The job was not started because recent")


def test_status_page_outage_matched_by_name(github_api: GitHubServer) -> None:
    github_api.actions_component_name = "GitHub Actions"
    github_api.actions_status = "major_outage"
    availability = GitHubActionsPath(gh_settings(github_api), token=TOKEN).is_available()
    assert availability == type(availability)(False, "GitHub status: GitHub Actions major_outage")


def test_degraded_actions_stays_available(github_api: GitHubServer) -> None:
    github_api.actions_status = "degraded_performance"
    assert GitHubActionsPath(gh_settings(github_api), token=TOKEN).is_available().ok


def test_bad_token_is_one_line_without_the_token(github_api: GitHubServer) -> None:
    bad = "ghp_Wr0ngT0kenWr0ngT0kenWr0ngT0ken12345"
    availability = GitHubActionsPath(gh_settings(github_api), token=bad).is_available()
    assert not availability.ok
    assert (
        availability.reason == "github: the credentials were rejected (HTTP 401: Bad credentials)"
    )
    assert bad not in availability.reason


def test_429_then_success_and_html_page_on_dispatch(github_api: GitHubServer) -> None:
    path = GitHubActionsPath(gh_settings(github_api), token=TOKEN)
    github_api.fail("429", times=1)
    assert path.is_available().ok  # the status page answered 429 and is not retried; runs were
    github_api.fail("html", times=None)
    with pytest.raises(Exception, match=r"github: gave up after 2 attempts: answered with an HTML"):
        path.trigger("v1.4.0", None, "production")


def test_dispatch_with_unknown_workflow_is_a_one_line_error(github_api: GitHubServer) -> None:
    path = GitHubActionsPath(gh_settings(github_api, workflow="nope.yml"), token=TOKEN)
    with pytest.raises(Exception, match=r"^github: HTTP 404: Not Found$"):
        path.trigger("v1.4.0", None, "production")


def test_billing_failure_fails_over_to_railway_native_within_a_second(
    github_api: GitHubServer, railway_api: RailwayServer, tmp_path: Path
) -> None:
    github_api.billing_failed = True  # every new run is refused for billing
    paths = [
        GitHubActionsPath(gh_settings(github_api), token=TOKEN),
        RailwayNativePath(
            rw_settings(railway_api), token=ACCOUNT_TOKEN, runner=railway_runner(railway_api)
        ),
    ]
    events: list[tuple[Failover, float]] = []
    breaker = CircuitBreaker(tmp_path / "breaker.json", cooldown=600)

    result = deploy_with_failover(
        paths,
        "v1.4.0",
        "abc123",
        "production",
        breaker=breaker,
        on_failover=lambda f: events.append((f, time.monotonic())),
    )

    assert result.path == "railway-native" and result.outcome.ok
    [(failover, verdict_at)] = events
    assert failover.path == "github-actions" and failover.next_path == "railway-native"
    assert "billing" in failover.reason
    deploy_call = next(r for r in railway_api.received if "serviceInstanceDeployV2" in str(r.body))
    assert deploy_call.body["variables"]["environmentId"] == ENVIRONMENT
    assert result.failovers == [failover]
    assert breaker.open_reason("github-actions") is not None
    # The dispatch happened (the run was refused after it): availability was fine beforehand.
    assert len(github_api.dispatches) == 1
    assert time.monotonic() - verdict_at < 5  # whole rest of the deploy, bounded


def test_billing_verdict_to_railway_trigger_under_one_second(
    github_api: GitHubServer, railway_api: RailwayServer, tmp_path: Path
) -> None:
    github_api.add_billing_failed_run()
    triggered: list[float] = []
    railway = RailwayNativePath(
        rw_settings(railway_api), token=ACCOUNT_TOKEN, runner=railway_runner(railway_api)
    )
    original = railway.trigger

    def timed_trigger(version: str, commit: str | None, environment: str) -> str:
        triggered.append(time.monotonic())
        return original(version, commit, environment)

    railway.trigger = timed_trigger  # type: ignore[method-assign]
    verdicts: list[float] = []
    result = deploy_with_failover(
        [GitHubActionsPath(gh_settings(github_api), token=TOKEN), railway],
        "v1.4.0",
        None,
        "production",
        on_failover=lambda f: verdicts.append(time.monotonic()),
    )
    assert result.path == "railway-native"
    assert github_api.dispatches == []  # unavailable before any dispatch
    assert 0 <= triggered[0] - verdicts[0] < 1.0


# paths check reads the project's one safeship.toml; it needs an environment to be valid.
ENVIRONMENT_TABLE = """[environments.production]
port = 8080
target = { command = ["python", "app.py"] }
"""


def _paths_check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", "paths", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_paths_check_names_the_billing_reason_and_hides_tokens(
    github_api: GitHubServer, railway_api: RailwayServer, tmp_path: Path
) -> None:
    import os

    github_api.add_billing_failed_run()
    config = tmp_path / "safeship.toml"
    config.write_text(
        f"""{ENVIRONMENT_TABLE}
[paths]
order = ["github-actions", "railway-native", "local"]

[paths.github-actions]
repo = "{OWNER}/{REPO}"
api_url = "{github_api.url}"
status_url = "{github_api.status_url}"
request_timeout = 2

[paths.railway-native]
endpoint = "{railway_api.graphql_url}"
project_id = "{PROJECT}"
environment_id = "{ENVIRONMENT}"
service_id = "{SERVICE}"
"""
    )
    bad = "rw-acct-Wrong7Token3Value9Xk2Lm5Pq8Rs1Tu4Vy"
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "RAILWAY_TOKEN": bad}
    result = _paths_check(config, env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    rows = {row["path"]: row for row in json.loads(result.stdout)}
    assert rows["github-actions"]["available"] is False
    assert "billing" in rows["github-actions"]["reason"]
    assert rows["railway-native"]["available"] is False
    assert "was rejected (Not Authorized)" in rows["railway-native"]["reason"]
    assert rows["local"]["available"] is True
    for secret in (bad, TOKEN):
        assert secret not in result.stdout + result.stderr


def test_paths_check_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    import os

    config = tmp_path / "safeship.toml"
    config.write_text(ENVIRONMENT_TABLE + '[paths]\norder = ["github-actions"]\n')
    result = _paths_check(config, dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.strip() == (
        "safeship: error: safeship.toml:4: paths: "
        "path 'github-actions' is in order but has no [paths.github-actions] table"
    )

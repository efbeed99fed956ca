"""`safeship deploy` with the railway target and the platform router, against the loopback
Railway server (railway_api.py: its GraphQL API, and any GET as the service's public URL) and
the loopback GitHub server (github_api.py: deployments and their statuses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from github_api import OWNER, REPO, TOKEN, GitHubServer
from railway_api import ACCOUNT_TOKEN, ENVIRONMENT, PROJECT, SERVICE, RailwayServer, mutation

from safeship.config import ConfigError, LoadedConfig, load_config, parse_config
from safeship.httpapi import one_line
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome
from safeship.pipeline.environment import open_environment
from safeship.pipeline.states import Status
from safeship.routing.base import Backend, Router, RouterError
from safeship.routing.platform import PlatformRouter

BAD_TOKEN = "rw-acct-Wrong7Token3Value9Xk2Lm5Pq8Rs1Tu4Vy"
ENV = "production"
RAILWAY_TARGET = (
    'target = { type = "railway", project_id = "p", environment_id = "e", service_id = "s" }'
)


def write_config(
    root: Path,
    railway: RailwayServer,
    github: GitHubServer,
    *,
    monitor_time: float = 0.0,
    service_id: str = SERVICE,
) -> LoadedConfig:
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
bake_time = 0.2
monitor_time = {monitor_time}

[environments.{ENV}.target]
type = "railway"
endpoint = "{railway.graphql_url}"
project_id = "{PROJECT}"
environment_id = "{ENVIRONMENT}"
service_id = "{service_id}"
public_url = "{railway.public_url}"
poll_interval = 0.05
request_timeout = 2
retries = 1
max_retry_wait = 0.5
deploy_timeout = 10

[environments.{ENV}.health]
retries = 3
backoff = 0.05
interval = 0.1
timeout = 2

[github]
repo = "{OWNER}/{REPO}"
api_url = "{github.url}"
request_timeout = 2
retries = 1
"""
    )
    return load_config(root / "safeship.toml")


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAILWAY_TOKEN", ACCOUNT_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)


def deploy(loaded: LoadedConfig, version: str) -> DeploymentOutcome:
    return operations.deploy(loaded, ENV, version, commit=f"commit-{version}")


def github_statuses(github: GitHubServer, version: str) -> list[dict[str, Any]]:
    [deployment] = [
        d for d in github.deployments.values() if d.body["payload"]["version"] == version
    ]
    return deployment.statuses


def serving(loaded: LoadedConfig) -> list[Backend]:
    """What the platform router recorded (what `safeship status` and the next deploy read)."""
    return open_environment(loaded, ENV).router.backends()


def test_config_defaults_railway_to_the_platform_router_all_at_once(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    settings = write_config(tmp_path, railway_api, github_api).config.environments[ENV]
    assert (settings.router.type, settings.strategy, settings.port) == (
        "platform",
        "all-at-once",
        None,
    )


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        (
            'port = 8080\nrouter = { type = "platform" }\ntarget = { command = ["app"] }',
            "safeship.toml:4: environments.x.router: the platform router is for targets that "
            "route themselves (railway, command); the local target needs the builtin, nginx or "
            "haproxy router",
        ),
        (
            'router = { type = "builtin" }\nport = 8080\n' + RAILWAY_TARGET,
            "safeship.toml:3: environments.x.router: the railway target routes its own traffic: "
            'use router = { type = "platform" }',
        ),
        (
            'strategy = "canary"\n' + RAILWAY_TARGET,
            "safeship.toml:3: environments.x.strategy: canary needs a router that splits "
            "traffic; the platform router serves one release at a time: use "
            'strategy = "all-at-once"',
        ),
        (
            'target = { command = ["app"] }',
            "safeship.toml:2: environments.x.port: required key is missing",
        ),
    ],
)
def test_router_target_and_strategy_must_fit(environment: str, problem: str) -> None:
    with pytest.raises(ConfigError) as failed:
        parse_config(f"\n[environments.x]\n{environment}\n")
    assert failed.value.problems == [problem]


def test_platform_router_records_the_serving_release_and_refuses_splits(tmp_path: Path) -> None:
    router: Router = PlatformRouter(ENV, None, tmp_path / "router")  # mypy: it is a Router
    assert not router.is_running() and router.backends() == []
    router.ensure_running()
    assert router.is_running() and router.backends() == []

    router.set_backends([Backend("v1", "https://shop.example", 100)])
    # Another process (`safeship status`, the next deploy) reads the same record.
    again = PlatformRouter(ENV, None, tmp_path / "router")
    assert again.backends() == [Backend("v1", "https://shop.example", 100)]
    assert again.stats() == {}  # no traffic passes through safeship: the traffic rules are idle

    with pytest.raises(RouterError, match=r"cannot split traffic \(v2=10, v1=90\)"):
        router.set_backends(
            [Backend("v2", "https://shop.example", 10), Backend("v1", "https://shop.example", 90)]
        )
    with pytest.raises(RouterError, match=r"needs the release's http\(s\) URL"):
        router.set_backends([Backend("v2", "", 100)])
    assert router.backends() == [Backend("v1", "https://shop.example", 100)]  # unchanged

    router.stop()
    assert not router.is_running() and router.backends() == []


@pytest.mark.usefixtures("tokens")
def test_success_is_recorded_and_reported_to_github(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path, railway_api, github_api, monitor_time=0.3)

    first = deploy(loaded, "v1")
    second = deploy(loaded, "v2")  # with v1 serving: monitored, then v1's release "stopped"

    assert (first.status, second.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert railway_api.operations.count("serviceInstanceDeployV2") == 2
    assert railway_api.rollbacks == []  # promote's stop of v1 must not roll v2 back
    [v2] = open_environment(loaded, ENV).target.releases()
    assert (v2.version, v2.url) == ("v2", railway_api.public_url)
    assert serving(loaded) == [Backend("v2", railway_api.public_url, 100)]
    # Health checks were real HTTP against the public URL.
    assert any(r.method == "GET" and r.path == "/api/health" for r in railway_api.received)
    for version in ("v1", "v2"):
        states = [s["state"] for s in github_statuses(github_api, version)]
        assert states == ["in_progress", "success"]
    assert github_statuses(github_api, "v2")[-1]["description"] == "v2 deployed"


@pytest.mark.usefixtures("tokens")
def test_crashed_deploy_rolls_back_and_github_says_failure_with_the_reason(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path, railway_api, github_api)
    assert deploy(loaded, "v1").ok
    v1_deployment = railway_api.deployments[0].id
    railway_api.crash_next = True

    outcome = deploy(loaded, "v2")

    assert outcome.status is Status.FAILED
    crashed = railway_api.deployments[1].id  # the rollback's redeploy is newest
    reason = outcome.reason or ""
    assert reason.startswith(
        f"railway: deployment {crashed} ended CRASHED; rolled back to {v1_deployment} (v1); logs: "
    )
    assert "Error: Cannot find module 'express'" in reason
    assert "\n" not in reason and ACCOUNT_TOKEN not in reason
    # deploymentRollback went to v1's deployment, and v1 serves again.
    assert railway_api.rollbacks == [v1_deployment]
    [release] = open_environment(loaded, ENV).target.releases()
    assert release.version == "v1"
    assert serving(loaded) == [Backend("v1", railway_api.public_url, 100)]
    # The registry: failed, with the reason.
    [record] = operations.history(loaded, ENV, limit=1)
    assert (record.version, record.status, record.rollback_reason) == ("v2", "failed", reason)
    # GitHub: the last status is failure, the reason in its description (cut to 140).
    last = github_statuses(github_api, "v2")[-1]
    assert last["state"] == "failure"
    assert last["description"] == one_line(f"v2 failed: {reason}", 140)
    assert len(last["description"]) <= 140
    assert f"ended CRASHED; rolled back to {v1_deployment} (v1)" in last["description"]


@pytest.mark.usefixtures("tokens")
def test_crash_after_success_in_the_monitoring_window_rolls_back(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path, railway_api, github_api, monitor_time=8.0)
    assert deploy(loaded, "v1").ok
    v1_deployment = railway_api.deployments[0].id
    railway_api.crash_after_success = 1.5  # v2 reaches SUCCESS, serves, then crashes

    outcome = deploy(loaded, "v2")

    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert railway_api.deployments[1].status == "CRASHED"
    # stop(v2) on Railway: deploymentRollback to v1's deployment, not deploymentRemove.
    assert railway_api.rollbacks == [v1_deployment]
    assert "deploymentRemove" not in railway_api.operations
    assert serving(loaded) == [Backend("v1", railway_api.public_url, 100)]
    [release] = open_environment(loaded, ENV).target.releases()
    assert release.version == "v1"
    [record] = operations.history(loaded, ENV, limit=1)
    assert record.status == "rolled_back"
    assert record.strategy == "all-at-once"
    last = github_statuses(github_api, "v2")[-1]
    assert last["state"] == "failure"
    assert last["description"].startswith("v2 rolled_back: ")


@pytest.mark.usefixtures("tokens")
def test_safeship_rollback_redeploys_the_previous_versions_image(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path, railway_api, github_api)
    assert deploy(loaded, "v1").ok
    v1_deployment = railway_api.deployments[0].id
    assert deploy(loaded, "v2").ok

    outcome = operations.rollback(loaded, ENV)

    assert outcome is not None and outcome.ok and outcome.version == "v1"
    # v1's image again (deploymentRollback), not a build of whatever the service's source
    # holds now (a third serviceInstanceDeployV2).
    assert railway_api.rollbacks == [v1_deployment]
    assert railway_api.operations.count("serviceInstanceDeployV2") == 2
    [release] = open_environment(loaded, ENV).target.releases()
    assert release.version == "v1"
    assert serving(loaded) == [Backend("v1", railway_api.public_url, 100)]
    assert [r.status for r in operations.history(loaded, ENV)] == [
        "succeeded",
        "rolled_back",
        "succeeded",
    ]


@pytest.mark.usefixtures("tokens")
def test_status_and_down(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path, railway_api, github_api)
    assert deploy(loaded, "v1").ok
    status = operations.status(loaded, ENV)
    assert status.router_running
    assert [(r.version, status.alive[r.version]) for r in status.releases] == [("v1", True)]
    assert status.backends == [Backend("v1", railway_api.public_url, 100)]
    assert status.stats == {}

    operations.down(loaded, ENV)

    assert "deploymentRemove" in railway_api.operations
    assert railway_api.serving() is None
    status = operations.status(loaded, ENV)
    assert (status.router_running, status.releases) == (False, [])


def safeship_cli(
    root: Path, *args: str, railway_token: str = ACCOUNT_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAILWAY_TOKEN": railway_token, "GITHUB_TOKEN": TOKEN}
    env.pop("SAFESHIP_DEBUG", None)
    # Wide: rich would wrap a long reason at 80 columns (see the report on deploy_cmd).
    env["COLUMNS"] = "1000"
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "bad token",
            "v1 failed: railway: the token in RAILWAY_TOKEN was rejected (Not Authorized) "
            "(deployments)",
        ),
        (
            "unknown service",
            "v1 failed: railway: deployments failed: Service not found",
        ),
        (
            "malformed answer",
            "v1 failed: railway: malformed answer to serviceInstanceDeployV2: "
            "no data.serviceInstanceDeployV2",
        ),
    ],
)
def test_railway_errors_are_one_line_exit_1_without_the_token(
    railway_api: RailwayServer,
    github_api: GitHubServer,
    tmp_path: Path,
    case: str,
    expected: str,
) -> None:
    token = BAD_TOKEN if case == "bad token" else ACCOUNT_TOKEN
    service = "svc-unknown" if case == "unknown service" else SERVICE
    if case == "malformed answer":
        railway_api.malformed.add("serviceInstanceDeployV2")
    write_config(tmp_path, railway_api, github_api, service_id=service)

    result = safeship_cli(tmp_path, "deploy", ENV, "--version", "v1", railway_token=token)

    assert result.returncode == 1
    # Progress lines, then the outcome: one line.
    assert result.stdout.strip().splitlines()[-1] == expected
    assert "Traceback" not in result.stderr
    for secret in (ACCOUNT_TOKEN, BAD_TOKEN, TOKEN):
        assert secret not in result.stdout + result.stderr
    assert railway_api.rollbacks == []
    # GitHub was told: failure, with the same reason.
    last = github_statuses(github_api, "v1")[-1]
    assert (last["state"], last["description"]) == ("failure", one_line(expected, 140))


def test_missing_token_is_one_line_exit_1(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    write_config(tmp_path, railway_api, github_api)
    result = safeship_cli(tmp_path, "deploy", ENV, "--version", "v1", railway_token="")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "safeship: error: railway: RAILWAY_TOKEN is not set (the Railway API token)"
    )
    assert railway_api.operations == []


@pytest.mark.usefixtures("tokens")
def test_failed_build_is_not_rolled_back(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    """A FAILED build never replaced the serving deployment: a deploymentRollback would only
    redeploy what serves (Railway's rollback restarts that image)."""
    loaded = write_config(tmp_path, railway_api, github_api)
    assert deploy(loaded, "v1").ok
    v1_deployment = railway_api.serving().id  # type: ignore[union-attr]
    railway_api.fail_build_next = True

    outcome = deploy(loaded, "v2")

    assert outcome.status is Status.FAILED
    reason = outcome.reason or ""
    assert f"ended FAILED; not rolled back: it never replaced {v1_deployment} (v1), which " in (
        reason
    )
    assert "missing script: build" in reason
    assert railway_api.rollbacks == [] and "deploymentRollback" not in railway_api.operations
    assert railway_api.serving().id == v1_deployment  # type: ignore[union-attr]
    assert serving(loaded) == [Backend("v1", railway_api.public_url, 100)]
    [record] = operations.history(loaded, ENV, limit=1)
    assert (record.version, record.status) == ("v2", "failed")
    assert github_statuses(github_api, "v2")[-1]["state"] == "failure"


def test_deploy_adopts_the_deployment_when_the_connection_drops_after_the_mutation(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    """Railway received serviceInstanceDeployV2 and created the deployment; the answer was
    lost. The old client resent it (4 deployments); now exactly one arrives, and the deploy
    follows the deployment that appeared and says so in one line."""
    write_config(tmp_path, railway_api, github_api)
    railway_api.drop_after(mutation("serviceInstanceDeployV2"))

    result = safeship_cli(tmp_path, "deploy", ENV, "--version", "v1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert railway_api.arrived("serviceInstanceDeployV2") == 1
    created = railway_api.serving()
    assert created is not None
    assert (
        "safeship: railway: the connection dropped after serviceInstanceDeployV2 was sent; "
        f"adopted deployment {created.id} created at {created.created_at}"
    ) in result.stderr.splitlines()
    assert result.stdout.strip().splitlines()[-1] == "v1 succeeded"
    for secret in (ACCOUNT_TOKEN, TOKEN):
        assert secret not in result.stdout + result.stderr

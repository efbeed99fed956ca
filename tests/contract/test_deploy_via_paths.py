"""`safeship deploy ENV --version V --via-paths` as a user runs it: the paths of safeship.toml
against the loopback GitHub, Railway, CircleCI and Slack servers, failover events in the JSON
log and the registry, GitHub deployment statuses of each path's run, Slack alerts, and the local
path running a real deploy of the demo service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from circleci_api import SLUG, CircleCIServer
from circleci_api import TOKEN as CIRCLE_TOKEN
from github_api import OWNER, REPO, TOKEN, FakeDeployment, GitHubServer
from railway_api import ACCOUNT_TOKEN, ENVIRONMENT, PROJECT, SERVICE, RailwayServer
from slack_api import SECRET, SlackServer

from safeship.config import load_config
from safeship.pipeline.lease import DeployLease
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

BAD_RAILWAY_TOKEN = "rw-acct-Wrong7Token3Value9Xk2Lm5Pq8Rs1Tu4Vy"

PRODUCTION = """[environments.production]
port = 8080
target = { command = ["python", "app.py"] }
"""


def railway_production(railway: RailwayServer) -> str:
    """production on the loopback Railway: the environment a railway-native deploy runs."""
    return f"""[environments.production]
bake_time = 0.2

[environments.production.target]
type = "railway"
endpoint = "{railway.graphql_url}"
project_id = "{PROJECT}"
environment_id = "{ENVIRONMENT}"
service_id = "{SERVICE}"
public_url = "{railway.public_url}"
poll_interval = 0.05
request_timeout = 2
retries = 1
max_retry_wait = 0.5
deploy_timeout = 10

[environments.production.health]
retries = 3
backoff = 0.05
interval = 0.1
timeout = 2
"""


def history(root: Path, environment: str = "production") -> list[dict[str, Any]]:
    """`safeship history ENV --json`, as a user reads it."""
    result = safeship(root, "history", environment, "--json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def paths_tables(order: list[str], github: GitHubServer, railway: RailwayServer | None) -> str:
    text = f"""
[paths]
order = {json.dumps(order)}

[paths.github-actions]
repo = "{OWNER}/{REPO}"
api_url = "{github.url}"
status_url = "{github.status_url}"
request_timeout = 2
retries = 1
poll_interval = 0.05
run_timeout = 10
"""
    if railway is not None:
        text += f"""
[paths.railway-native]
endpoint = "{railway.graphql_url}"
project_id = "{PROJECT}"
environment_id = "{ENVIRONMENT}"
service_id = "{SERVICE}"
poll_interval = 0.05
request_timeout = 2
deploy_timeout = 10
"""
    return text


def reporting_tables(github: GitHubServer, slack: SlackServer) -> str:
    """[github] (deployment statuses) and [notify.slack] (alerts) on the loopback servers."""
    return f"""
[github]
repo = "{OWNER}/{REPO}"
api_url = "{github.url}"
request_timeout = 2

[notify.slack]
webhook_env = "SLACK_WEBHOOK_URL"
"""


def slack_said(slack: SlackServer) -> str:
    """Everything the Slack messages showed (fallback texts, and every text of their blocks),
    one per line."""

    def texts(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["text"]] if isinstance(node.get("text"), str) else []
            return own + [t for v in node.values() for t in texts(v)]
        if isinstance(node, list):
            return [t for v in node for t in texts(v)]
        return []

    return "\n".join(line for m in slack.messages for line in [m.text, *texts(m.blocks)])


def circleci_table(circleci: CircleCIServer) -> str:
    return f"""
[paths.circleci]
project_slug = "{SLUG}"
api_url = "{circleci.url}"
request_timeout = 2
retries = 1
poll_interval = 0.05
run_timeout = 10
"""


def safeship(
    cwd: Path,
    *args: str,
    railway_token: str = ACCOUNT_TOKEN,
    timeout: float = 60,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "RAILWAY_TOKEN": railway_token}
    env.update(extra_env or {})
    env.pop("SAFESHIP_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def logged_events(root: Path) -> list[dict[str, Any]]:
    lines = (root / ".safeship" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


def by_path(github: GitHubServer) -> dict[str, FakeDeployment]:
    """The GitHub deployments of CI paths' runs, by the deploy path named in their payload (a
    deploy run in this process is reported by the event-bus sink, without a path)."""
    return {
        d.body["payload"]["path"]: d
        for d in github.deployments.values()
        if "path" in d.body.get("payload", {})
    }


def test_billing_failure_fails_over_to_railway_native_and_completes(
    github_api: GitHubServer, railway_api: RailwayServer, slack_api: SlackServer, tmp_path: Path
) -> None:
    github_api.billing_failed = True  # the dispatched run is refused for billing
    (tmp_path / "safeship.toml").write_text(
        railway_production(railway_api)
        + paths_tables(["github-actions", "railway-native"], github_api, railway_api)
        + reporting_tables(github_api, slack_api)
    )

    result = safeship(
        tmp_path,
        "deploy", "production", "--version", "v1.4.0", "--commit", "abc123", "--via-paths",
        extra_env={"SLACK_WEBHOOK_URL": slack_api.webhook_url},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert_no_secret(result, TOKEN, ACCOUNT_TOKEN, SECRET)
    # The railway-native path ran the pipeline here: its outcome line, with the path.
    assert result.stdout.strip().splitlines()[-1] == "v1.4.0 succeeded (path railway-native)"
    [failover_line] = result.stderr.strip().splitlines()
    assert failover_line.startswith("failover: github-actions -> railway-native: billing: ")
    assert len(github_api.dispatches) == 1
    deploy_call = next(r for r in railway_api.received if "serviceInstanceDeployV2" in str(r.body))
    assert deploy_call.body["variables"]["environmentId"] == ENVIRONMENT
    assert deploy_call.body["variables"]["commitSha"] == "abc123"
    assert railway_api.operations.count("serviceInstanceDeployV2") == 1
    # Health verification ran on the release's URL (the service's public URL).
    assert any(r.method == "GET" and r.path == "/api/health" for r in railway_api.received)

    # The JSON log: path.failover, the deployment's own events, then path.completed.
    events = logged_events(tmp_path)
    names = [e["event"] for e in events]
    assert names[0] == "path.failover" and names[-1] == "path.completed"
    assert names[1] == "deployment.started" and "deployment.succeeded" in names
    failover, completed = events[0], events[-1]
    assert failover["deployment_id"] is None and failover["environment"] == "production"
    assert failover["attributes"]["from"] == "github-actions"
    assert failover["attributes"]["to"] == "railway-native"
    assert failover["attributes"]["reason"].startswith("billing: The job was not started")
    assert completed["attributes"]["path"] == "railway-native"
    assert completed["attributes"]["ok"] is True
    assert completed["attributes"]["conclusion"] == "success"
    # Railway was asked to deploy right after the failover verdict: 0.2-0.26 s on a quiet
    # machine, over 1 s with four test workers on two cores. The bound catches a wait (a retry
    # back-off, a cooldown) rather than the machine's load: timing claims live in benchmarks.
    verdict_at = datetime.fromisoformat(failover["timestamp"]).timestamp()
    assert 0 <= deploy_call.at - verdict_at < 3.0
    # The same in the servers' request logs: GitHub's billing annotation (the last request
    # the verdict needed) to Railway's deploy mutation.
    annotation_read = github_api.calls("/annotations")[-1]
    assert 0 <= deploy_call.at - annotation_read.at < 1.0

    # The registry (`safeship history`): the deployment, with the path that ran it.
    [row] = history(tmp_path)
    assert (row["version"], row["status"], row["path"]) == (
        "v1.4.0",
        "succeeded",
        "railway-native",
    )
    assert row["checks"]  # health verification ran
    assert completed["attributes"]["deployment_id"] == row["id"]

    # GitHub: the refused run's deployment ends "error" with the reason; the deploy run here
    # is reported from its events like every deploy from this machine.
    refused = by_path(github_api)["github-actions"]
    assert refused.body["ref"] == "abc123" and refused.body["environment"] == "production"
    assert [s["state"] for s in refused.statuses] == ["in_progress", "error"]
    [run_id] = github_api.runs
    run_page = f"https://github.com/{OWNER}/{REPO}/actions/runs/{run_id}"
    assert refused.statuses[0]["log_url"] == run_page  # from the dispatch's run details
    assert refused.statuses[1]["description"].startswith(
        "v1.4.0 not deployed through github-actions (failed over to railway-native): billing: "
    )
    [deployed] = [d for d in github_api.deployments.values() if d is not refused]
    assert deployed.body["payload"]["safeship_deployment_id"] == row["id"]
    assert [s["state"] for s in deployed.statuses] == ["in_progress", "success"]
    assert deployed.statuses[-1]["description"] == "v1.4.0 deployed"

    # Slack: the failover alert (grouped with the deploy's news, which resolves it).
    said = slack_said(slack_api)
    assert (
        "deploy path github-actions failed over to railway-native: billing: The job was not started"
        in said
    )
    assert "Deployment succeeded" in said and slack_api.rejected == []

    # The environment-level events in the registry too.
    loaded = load_config(tmp_path / "safeship.toml")
    with Registry(loaded.registry_url()) as registry:
        stored = registry.events(None)
    assert [e.name for e in stored] == ["path.failover", "path.completed"]
    assert stored[0].attributes["attributes"]["to"] == "railway-native"

    # The breaker now skips GitHub Actions, and `paths check` names why.
    check = safeship(tmp_path, "paths", "check")
    assert check.returncode == 0, check.stderr
    github_row = next(line for line in check.stdout.splitlines() if line.startswith("github-"))
    assert "skipped by failover: cooling down" in github_row and "billing" in github_row


def test_crashing_railway_native_deploy_is_rolled_back_and_recorded(
    github_api: GitHubServer, railway_api: RailwayServer, slack_api: SlackServer, tmp_path: Path
) -> None:
    """Through railway-native a CRASHED deployment used to stay (no deploymentRollback), with no
    registry row: now the pipeline rolls it back, records it, and alerts."""
    (tmp_path / "safeship.toml").write_text(
        railway_production(railway_api)
        + paths_tables(["railway-native"], github_api, railway_api)
        + reporting_tables(github_api, slack_api)
    )
    env = {"SLACK_WEBHOOK_URL": slack_api.webhook_url, "COLUMNS": "1000"}
    good = safeship(tmp_path, "deploy", "production", "--version", "v1", "--via-paths")
    assert good.returncode == 0, good.stderr
    v1_deployment = railway_api.serving().id  # type: ignore[union-attr]
    railway_api.crash_next = True

    result = safeship(
        tmp_path, "deploy", "production", "--version", "v2", "--via-paths", extra_env=env
    )

    assert result.returncode == 1
    assert_no_secret(result, TOKEN, ACCOUNT_TOKEN, SECRET)
    crashed = railway_api.deployments[1].id  # the rollback's redeploy is newest
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(
        f"v2 failed: railway: deployment {crashed} ended CRASHED; rolled back to "
        f"{v1_deployment} (v1); logs: "
    )
    assert last.endswith("(path railway-native)")
    assert railway_api.rollbacks == [v1_deployment]
    assert railway_api.serving() is not None  # v1's image serves again

    rows = history(tmp_path)
    assert [(r["version"], r["status"], r["path"]) for r in rows] == [
        ("v2", "failed", "railway-native"),
        ("v1", "succeeded", "railway-native"),
    ]
    assert "ended CRASHED; rolled back to" in rows[0]["rollback_reason"]
    # GitHub says failure with the reason; Slack alerts the failed deployment.
    [v2] = [d for d in github_api.deployments.values() if d.body["payload"]["version"] == "v2"]
    assert v2.statuses[-1]["state"] == "failure"
    assert "ended CRASHED; rolled back to" in v2.statuses[-1]["description"]
    assert any(
        m.text.startswith("❌ Deployment failed · production") and "v2" in m.text
        for m in slack_api.messages
    )


def test_railway_native_refuses_an_environment_whose_target_is_not_railway(
    github_api: GitHubServer, railway_api: RailwayServer, tmp_path: Path
) -> None:
    """It would deploy Railway while the environment's checks and records are another
    target's: unavailable for that environment (not cooled down: it is the configuration)."""
    (tmp_path / "safeship.toml").write_text(
        PRODUCTION + paths_tables(["railway-native"], github_api, railway_api)
    )
    result = safeship(tmp_path, "deploy", "production", "--version", "v2", "--via-paths")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "safeship: error: no deploy path could run: railway-native: production's target is "
        "local, not railway: the railway-native path deploys only a railway target"
    )
    assert railway_api.operations.count("serviceInstanceDeployV2") == 0
    check = safeship(tmp_path, "paths", "check")
    assert "cooling down" not in check.stdout


def test_every_path_failing_is_one_line_exit_1_without_tokens(
    github_api: GitHubServer, railway_api: RailwayServer, tmp_path: Path
) -> None:
    github_api.add_billing_failed_run()
    (tmp_path / "safeship.toml").write_text(
        railway_production(railway_api)
        + paths_tables(["github-actions", "railway-native"], github_api, railway_api)
    )
    result = safeship(
        tmp_path,
        "deploy",
        "production",
        "--version",
        "v1.4.0",
        "--via-paths",
        railway_token=BAD_RAILWAY_TOKEN,
    )
    assert result.returncode == 1
    assert_no_secret(result, TOKEN, BAD_RAILWAY_TOKEN)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("safeship: error: no deploy path could run: github-actions: billing")
    assert "railway-native: railway: " in error and "rejected" in error
    assert github_api.dispatches == []
    assert not any("serviceInstanceDeployV2" in str(r.body) for r in railway_api.received)
    names = [e["event"] for e in logged_events(tmp_path)]
    assert names == ["path.failover", "path.failover"]


def test_via_paths_and_emergency_together_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(PRODUCTION)
    result = safeship(
        tmp_path, "deploy", "production", "--version", "v1", "--via-paths", "--emergency"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "safeship: error: --via-paths and --emergency exclude each other: "
        "an emergency deploy runs from this machine only"
    )


def test_local_path_runs_the_pipeline_and_records_the_path(
    github_api: GitHubServer, workspace_factory: Callable[..., Workspace]
) -> None:
    github_api.actions_status = "major_outage"
    ws = workspace_factory()
    config = ws.root / "safeship.toml"
    config.write_text(
        config.read_text() + paths_tables(["github-actions", "local"], github_api, None)
    )

    result = safeship(ws.root, "deploy", ENV, "--version", "v1", "--via-paths", timeout=90)

    assert result.returncode == 0, result.stderr
    assert_no_secret(result, TOKEN)
    assert result.stdout.strip().splitlines()[-1] == "v1 succeeded (path local)"
    assert "failover: github-actions -> local: GitHub status: Actions major_outage" in (
        result.stderr
    )
    assert github_api.dispatches == []
    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
        env_events = [e.name for e in registry.events(None)]
        deploy_events = [e.name for e in registry.events(record.id)]
    assert record.status == "succeeded" and record.path == "local"
    assert record.checks  # health verification ran
    assert env_events == ["path.failover", "path.completed"]
    assert deploy_events[0] == "deployment.started" and deploy_events[-1] == "deployment.succeeded"
    assert ws.pids()  # the release and the router run


def test_railway_native_deploy_holds_the_environment_lease(
    railway_api: RailwayServer, github_api: GitHubServer, tmp_path: Path
) -> None:
    (tmp_path / "safeship.toml").write_text(
        railway_production(railway_api) + paths_tables(["railway-native"], github_api, railway_api)
    )
    loaded = load_config(tmp_path / "safeship.toml")
    with (
        Registry(loaded.registry_url()) as registry,
        DeployLease(registry, "production", holder="bob@ci-runner-7 pid 42"),
    ):
        busy = safeship(tmp_path, "deploy", "production", "--version", "v2", "--via-paths")
    assert busy.returncode == 1
    assert busy.stderr.strip().startswith(
        "safeship: error: production is being deployed by bob@ci-runner-7 pid 42 since "
    )
    assert not any("serviceInstanceDeployV2" in str(r.body) for r in railway_api.received)

    # Free again: the deploy runs, and leaves the lease released behind it.
    done = safeship(tmp_path, "deploy", "production", "--version", "v2", "--via-paths")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "v2 succeeded (path railway-native)"
    with Registry(loaded.registry_url()) as registry:
        assert registry.acquire_lease("production", "check", 10).holder == "check"


def test_billing_failure_fails_over_to_circleci_with_statuses_and_an_alert(
    github_api: GitHubServer, circleci_api: CircleCIServer, slack_api: SlackServer, tmp_path: Path
) -> None:
    github_api.billing_failed = True
    (tmp_path / "safeship.toml").write_text(
        PRODUCTION
        + paths_tables(["github-actions", "circleci"], github_api, None)
        + circleci_table(circleci_api)
        + reporting_tables(github_api, slack_api)
    )
    env = {"CIRCLE_TOKEN": CIRCLE_TOKEN, "SLACK_WEBHOOK_URL": slack_api.webhook_url}

    result = safeship(
        tmp_path,
        "deploy", "production", "--version", "v2.0.0", "--commit", "def456", "--via-paths",
        "--triggered-by", "alice",
        extra_env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert_no_secret(result, TOKEN, CIRCLE_TOKEN, SECRET)
    [pipeline] = circleci_api.pipelines.values()
    assert result.stdout.startswith(f"v2.0.0 deployed through circleci (run {pipeline.id}: ")
    assert pipeline.body == {
        "branch": "main",
        "parameters": {"version": "v2.0.0", "environment": "production", "commit": "def456"},
    }
    assert len(circleci_api.calls(f"/pipeline/{pipeline.id}/workflow")) == 2  # followed to the end
    events = logged_events(tmp_path)
    assert [e["event"] for e in events] == ["path.failover", "path.completed"]
    assert events[0]["attributes"]["to"] == "circleci"
    assert events[1]["attributes"]["ok"] is True

    runs = by_path(github_api)
    assert [s["state"] for s in runs["github-actions"].statuses] == ["in_progress", "error"]
    assert (
        "(failed over to circleci): billing: " in runs["github-actions"].statuses[-1]["description"]
    )
    circle = runs["circleci"]
    assert circle.body["payload"] == {
        "path": "circleci", "run_id": pipeline.id, "version": "v2.0.0", "triggered_by": "alice",
    }  # fmt: skip
    assert [s["state"] for s in circle.statuses] == ["in_progress", "success"]
    assert all(len(s["description"]) <= 140 for s in circle.statuses)

    [alert] = [m for m in slack_api.messages if "failed over" in m.text]
    assert alert.text.startswith(
        "⚠️ Deploy path failed over · production: production: v2.0.0: deploy path github-actions "
        "failed over to circleci: billing: "
    )
    assert "*Triggered by:*\nalice" in slack_said(slack_api)


def test_a_failed_circleci_build_is_never_silent(
    github_api: GitHubServer, circleci_api: CircleCIServer, slack_api: SlackServer, tmp_path: Path
) -> None:
    github_api.actions_status = "major_outage"  # unavailable: never dispatched, no deployment
    circleci_api.next_outcome = "failed"
    (tmp_path / "safeship.toml").write_text(
        PRODUCTION
        + paths_tables(["github-actions", "circleci"], github_api, None)
        + circleci_table(circleci_api)
        + reporting_tables(github_api, slack_api)
    )
    env = {"CIRCLE_TOKEN": CIRCLE_TOKEN, "SLACK_WEBHOOK_URL": slack_api.webhook_url}

    result = safeship(
        tmp_path, "deploy", "production", "--version", "v3", "--via-paths", extra_env=env
    )

    assert result.returncode == 1
    assert_no_secret(result, TOKEN, CIRCLE_TOKEN, SECRET)
    assert github_api.dispatches == []
    [circle] = github_api.deployments.values()
    assert circle.body["payload"]["path"] == "circleci" and circle.body["ref"] == "v3"
    assert [s["state"] for s in circle.statuses] == ["in_progress", "failure"]
    assert circle.statuses[-1]["description"] == "v3 failed through circleci: workflow failed"
    run_id = circle.body["payload"]["run_id"]
    said = slack_said(slack_api)
    assert (
        "deploy path github-actions failed over to circleci: GitHub status: Actions major_outage"
        in said
    )
    assert f"v3: failed through circleci (run {run_id}): workflow failed" in said


@pytest.mark.parametrize("ci", ["github-actions", "circleci"])
def test_a_ci_path_records_its_run_and_the_workflows_deploy_records_the_deployment(
    github_api: GitHubServer,
    railway_api: RailwayServer,
    circleci_api: CircleCIServer,
    tmp_path: Path,
    ci: str,
) -> None:
    """A CI path's run is `safeship deploy` inside the CI job: that run takes the lease, writes
    the deployment row and runs every gate (the contract servers cannot run a workflow, so the
    test runs the job's command itself, with the inputs the path sent and the variable the CI
    sets). This process records the run: path.completed with its id and outcome."""
    (tmp_path / "safeship.toml").write_text(
        railway_production(railway_api)
        + paths_tables([ci], github_api, None)
        + circleci_table(circleci_api)
    )
    env = {"CIRCLE_TOKEN": CIRCLE_TOKEN}

    result = safeship(
        tmp_path, "deploy", "production", "--version", "v3", "--commit", "c3", "--via-paths",
        extra_env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"v3 deployed through {ci} (run ")
    [completed] = [e for e in logged_events(tmp_path) if e["event"] == "path.completed"]
    assert completed["attributes"]["path"] == ci and completed["attributes"]["ok"] is True
    assert completed["attributes"]["deployment_id"] is None  # not deployed by this process
    assert history(tmp_path) == []  # nor recorded as a deployment here: the job's run does
    assert railway_api.operations.count("serviceInstanceDeployV2") == 0

    # The job: the workflow's `safeship deploy` with the path's inputs, in the CI's variables.
    if ci == "github-actions":
        [dispatch] = github_api.dispatches
        [run_id] = github_api.runs
        inputs, job_env, run = dispatch["inputs"], {"GITHUB_ACTIONS": "true"}, str(run_id)
    else:
        [pipeline] = circleci_api.pipelines.values()
        inputs, job_env, run = pipeline.body["parameters"], {"CIRCLECI": "true"}, pipeline.id
    assert completed["attributes"]["run_id"] == run
    # The run and its minutes (the provider's start and end), for the analytics' CI cost.
    with Registry(load_config(tmp_path / "safeship.toml").registry_url()) as registry:
        wide = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        [ran] = registry.analytics_facts(None, *wide).ci_runs
    assert (ran.path, ran.environment, ran.conclusion, ran.runs, ran.timed_runs) == (
        ci, "production", "success", 1, 1,
    )  # fmt: skip
    assert ran.seconds == (180.0 if ci == "github-actions" else 120.0)
    job = safeship(
        tmp_path,
        "deploy", inputs["environment"], "--version", inputs["version"], "--commit",
        inputs["commit"], "--triggered-by", ci,
        extra_env=job_env,
    )  # fmt: skip
    assert job.returncode == 0, job.stderr

    [row] = history(tmp_path)
    assert (row["version"], row["commit_sha"], row["status"], row["path"]) == (
        "v3",
        "c3",
        "succeeded",
        ci,
    )
    assert row["checks"]  # the job ran the health checks

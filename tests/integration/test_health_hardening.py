"""Issue 11, section 4: health commands on a platform-routed environment, URL passwords in the
table output, and a deep endpoint's non-critical failures judged as the app judges them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from safeship.config import find_config, load_config
from safeship.health.base import overall
from safeship.health.deep import judge_report
from safeship.pipeline.environment import open_environment
from safeship.registry import Registry
from testing.cli import one_line_error, safeship
from testing.services import FakeService, Reply

Services = Callable[[], FakeService]
HEALTHY = Reply(200, {"status": "healthy"})
PASSWORD = "hunter2-9f8e7d"


# -- 3. a platform-routed environment without --url --------------------------------------------

SMOKE = """
[[environments.production.health.smoke.flows]]
name = "home"
[[environments.production.health.smoke.flows.steps]]
path = "/api/health"
"""


def command_project(root: Path, url: str | None) -> Path:
    url_line = f'url = "{url}"\n' if url else ""
    (root / "safeship.toml").write_text(
        '[project]\nname = "t"\n\n[environments.production.target]\ntype = "command"\n'
        f'deploy = ["true"]\n{url_line}' + SMOKE
    )
    return root


def test_smoke_and_baseline_of_a_command_target_use_the_releases_url(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/*/api/health", HEALTHY)
    project = command_project(tmp_path, service.url + "/{version}")
    # A deploy records the release (its URL has the version filled in).
    loaded = load_config(find_config(project / "safeship.toml"))
    open_environment(loaded, "production").target.deploy("v7")
    smoke = safeship(project, "smoke", "production")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert f"smoke of {service.url}/v7" in smoke.stdout and "None" not in smoke.stdout
    baseline = safeship(project, "baseline", "production", "--requests", "3", "--json")
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    assert json.loads(baseline.stdout)["target"] == f"{service.url}/v7"
    assert {r.path for r in service.requests} == {"/v7/api/health"}


def test_a_static_url_in_the_settings_serves_before_any_deploy(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/api/health", HEALTHY)
    smoke = safeship(command_project(tmp_path, service.url), "smoke", "production")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert f"smoke of {service.url}" in smoke.stdout


def test_no_known_url_is_one_line_asking_for_url(tmp_path: Path) -> None:
    project = command_project(tmp_path, None)
    for command in ("smoke", "baseline"):
        assert one_line_error(safeship(project, command, "production"), 2) == (
            "production is routed by its platform (command target) and no release URL is "
            "known: give the service's URL with --url"
        )


def test_railway_without_a_token_names_why_and_asks_for_url(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "t"\n\n[environments.production.target]\ntype = "railway"\n'
        'project_id = "p"\nenvironment_id = "e"\nservice_id = "s"\n' + SMOKE
    )
    result = safeship(tmp_path, "smoke", "production", env={"RAILWAY_TOKEN": None})
    assert one_line_error(result, 2) == (
        "production is routed by its platform (railway target) and no release URL is known "
        "(railway: RAILWAY_TOKEN is not set (the Railway API token)): give the service's URL "
        "with --url"
    )


def test_railway_public_url_is_used_without_asking_the_api(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/api/health", HEALTHY)
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "t"\n\n[environments.production.target]\ntype = "railway"\n'
        'project_id = "p"\nenvironment_id = "e"\nservice_id = "s"\n'
        f'public_url = "{service.url}"\n' + SMOKE
    )
    result = safeship(tmp_path, "smoke", "production", env={"RAILWAY_TOKEN": None})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"smoke of {service.url}" in result.stdout


def test_railway_baseline_compares_with_the_last_deploy_without_a_token(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/api/health", HEALTHY)
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "t"\n\n[environments.production.target]\ntype = "railway"\n'
        'project_id = "p"\nenvironment_id = "e"\nservice_id = "s"\n'
        f'public_url = "{service.url}"\n'
    )
    loaded = load_config(find_config(tmp_path / "safeship.toml"))
    with Registry(loaded.registry_url()) as registry:
        previous = registry.create_deployment("production", "v1", None, "test")
        registry.update_deployment(previous, status="succeeded", completed=True)
    result = safeship(
        tmp_path, "baseline", "production", "--requests", "3", "--json", env={"RAILWAY_TOKEN": None}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["target"] == service.url


# -- 4. a URL's password never printed ----------------------------------------------------------


def test_a_urls_password_is_masked_in_the_table_as_in_json(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/api/health", HEALTHY)
    service.on("GET", "/api/health/deep", Reply(503, {"status": "unhealthy", "checks": {
        "db": {"status": "failed", "detail": f"cannot reach bob:{PASSWORD}@db"}}}))  # fmt: skip
    url = service.url.replace("http://", f"http://bob:{PASSWORD}@")
    for args in ([], ["--deep"], ["--deep", "--json"]):
        result = safeship(tmp_path, "health", url, *args)
        assert result.returncode in (0, 1), result.stderr
        assert PASSWORD not in result.stdout + result.stderr, args
        assert "bob:****@127.0.0.1" in result.stdout, args
    # The password reached the service (as Basic auth), and only there.
    assert any("Authorization" in r.headers for r in service.requests)


def test_a_narrow_terminal_cannot_split_a_password_out_of_the_mask(
    tmp_path: Path, fake_service: Services
) -> None:
    service = fake_service().on("GET", "/api/health", HEALTHY)
    url = service.url.replace("http://", f"http://bob:{PASSWORD}@")
    result = safeship(tmp_path, "health", url, env={"COLUMNS": "30"})
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout.replace("\n", "").replace(" ", "").replace("│", "")


# -- 5. a deep endpoint's criticality -----------------------------------------------------------


def degraded_app(service: FakeService, critical_key: bool) -> FakeService:
    """An app that answers as safeship.appkit does when a non-critical check fails."""
    cache: dict[str, object] = {"status": "failed", "latency": 3, "detail": "connection refused"}
    if critical_key:
        cache["critical"] = False
    body = {
        "status": "degraded",
        "checks": {"database": {"status": "ok", "latency": 4, "critical": True}, "cache": cache},
    }
    return service.on("GET", "/api/health", HEALTHY).on("GET", "/api/health/deep", Reply(200, body))


def test_a_non_critical_deep_failure_is_degraded_exit_0_with_a_warning(
    tmp_path: Path, fake_service: Services
) -> None:
    # Said by the app ("critical": false), as safeship.appkit says it.
    service = degraded_app(fake_service(), critical_key=True)
    result = safeship(tmp_path, "health", service.url, "--deep")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "health: degraded" in result.stdout
    assert "failed (non-critical)" in result.stdout
    assert "warning: deep:cache failed: connection refused" in result.stdout
    assert safeship(tmp_path, "health", service.url, "--deep", "--strict").returncode == 1
    # Not said: inferred from the app's own 200 "degraded".
    service = degraded_app(fake_service(), critical_key=False)
    result = safeship(tmp_path, "health", service.url, "--deep", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "degraded"
    cache = next(c for c in report["checks"] if c["name"] == "deep:cache")
    assert (cache["status"], cache["critical"]) == ("failed", False)


def test_a_critical_deep_failure_is_unhealthy() -> None:
    said = {"status": "unhealthy", "checks": {"db": {"status": "failed", "critical": True}}}
    assert overall(judge_report(said, http_status=503)) == "unhealthy"
    # Without the key, a check of an app that answered unhealthy is critical...
    unsaid = {"status": "unhealthy", "checks": {"db": {"status": "failed"}}}
    [db, _] = judge_report(unsaid, http_status=503)
    assert (db.status, db.critical) == ("failed", True)
    # ...and an explicit critical check fails the verdict even when the app says degraded.
    odd = {"status": "degraded", "checks": {"db": {"status": "failed", "critical": True}}}
    assert overall(judge_report(odd, http_status=200)) == "unhealthy"

"""`safeship health`, `smoke`, `baseline` and `config check` as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safeship.config import load_config
from safeship.pipeline import operations
from testing.cli import one_line_error, safeship
from testing.fixtures import ENV, Workspace
from testing.services import FakeService, Reply

WorkspaceFactory = Callable[..., Workspace]
Services = Callable[[], FakeService]


@pytest.fixture
def demo_url() -> Iterator[Callable[..., str]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(behaviour: str = "healthy", **env: str) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
            env={**os.environ, "SAFESHIP_VERSION": "v1", "DEMO_BEHAVIOUR": behaviour, **env},
            stdout=subprocess.DEVNULL,
        )
        started.append(proc)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=5)


def test_health_of_a_url_needs_no_config(tmp_path: Path, demo_url: Callable[..., str]) -> None:
    url = demo_url()
    table = safeship(tmp_path, "health", url, "--deep")
    assert table.returncode == 0, table.stderr
    assert "deep:catalogue" in table.stdout and "health: healthy" in table.stdout
    report = json.loads(safeship(tmp_path, "health", url, "--deep", "--json").stdout)
    assert report["status"] == "healthy"
    assert [(c["name"], c["status"], c["level"]) for c in report["checks"]] == [
        ("http", "ok", 1),
        ("deep:catalogue", "ok", 2),
        ("deep", "ok", 2),
    ]


def test_health_exit_codes(
    tmp_path: Path, demo_url: Callable[..., str], fake_service: Services
) -> None:
    assert safeship(tmp_path, "health", demo_url("health_status=503")).returncode == 1
    down = fake_service().on("GET", "/x", Reply(503, {}))
    failing_dependency = demo_url(DEMO_DEPENDENCY_URL=down.url + "/x")
    assert safeship(tmp_path, "health", failing_dependency).returncode == 0  # liveness only
    deep = safeship(tmp_path, "health", failing_dependency, "--deep")
    assert deep.returncode == 1 and "health: unhealthy" in deep.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    refused = safeship(tmp_path, "health", closed)
    assert refused.returncode == 1 and "connection refused" in refused.stdout
    degraded = fake_service().on("GET", "/api/health", Reply(200, {"status": "degraded"}))
    assert safeship(tmp_path, "health", degraded.url).returncode == 0
    assert safeship(tmp_path, "health", degraded.url, "--strict").returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["127.0.0.1:8080"], "URL must start with http://, https://"),
        (["http://127.0.0.1:8080", "--path", "health"], "--path: must start with /"),
        (["http://127.0.0.1:8080", "--deep-path", "x"], "--deep-path: must start with /"),
        (["http://127.0.0.1:8080", "--timeout", "0"], "--timeout: Input should be greater"),
    ],
)
def test_health_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    assert one_line_error(safeship(tmp_path, "health", *args), 2).startswith(message)


SMOKE = """
[[environments.local.health.smoke.flows]]
name = "items"
[[environments.local.health.smoke.flows.steps]]
path = "/api/v1/items"
headers = { "X-Api-Key" = "${SMOKE_API_KEY}" }
assert = [{ path = "0.name", equals = "anvil" }]

[environments.local.health.baseline]
path = "/api/v1/items"
requests = 50
min_latency_delta_ms = 50
"""
KEY: dict[str, str | None] = {"SMOKE_API_KEY": "smoke-api-key-7f3a9c"}


def with_smoke(ws: Workspace) -> Workspace:
    path = ws.root / "safeship.toml"
    path.write_text(path.read_text() + SMOKE)
    ws.loaded = load_config(path)
    return ws


def test_smoke_and_baseline_of_an_environment(
    workspace_factory: WorkspaceFactory, fake_service: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "smoke-api-key-7f3a9c"
    monkeypatch.setenv("SMOKE_API_KEY", secret)
    ws = with_smoke(workspace_factory(bake_time=0.2))
    assert operations.deploy(ws.loaded, ENV, "v1").ok

    ok = safeship(ws.root, "smoke", ENV, env=KEY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "smoke:items/GET /api/v1/items" in ok.stdout and "smoke: healthy" in ok.stdout

    # A service that echoes the key where the assertion looks: the key is masked.
    echo = fake_service().on(
        "GET", "/api/v1/items", lambda r: Reply(200, [{"name": r.headers["X-Api-Key"]}])
    )
    failed = safeship(ws.root, "smoke", "--url", echo.url, "--json", env=KEY)
    assert failed.returncode == 1
    (check,) = json.loads(failed.stdout)["checks"]
    assert check["detail"] == '0.name is "****", expected "anvil"'
    assert secret not in failed.stdout + failed.stderr

    missing = safeship(ws.root, "smoke", env={"SMOKE_API_KEY": None})
    assert one_line_error(missing, 2).endswith(
        "environments.local.health.smoke.flows.0.steps.0.headers.X-Api-Key: "
        "environment variable SMOKE_API_KEY is not set"
    )

    compared = safeship(ws.root, "baseline", ENV, "--json")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    report = json.loads(compared.stdout)
    assert report["baseline"]["compared_with"] == "v1"
    assert report["baseline"]["requests"] == 50 and report["previous"]["requests"] == 50
    assert report["baseline"]["rss_mb"] > 0  # the serving release's process, via psutil
    table = safeship(ws.root, "baseline", ENV)
    assert "previous (v1)" in table.stdout and "p95" in table.stdout


def test_smoke_and_baseline_usage_errors(
    workspace_factory: WorkspaceFactory, tmp_path: Path, demo_url: Callable[..., str]
) -> None:
    ws = workspace_factory()
    assert one_line_error(safeship(ws.root, "smoke"), 2) == (
        "environments.local.health.smoke has no flows to run"
    )
    assert "unknown environment" in one_line_error(safeship(ws.root, "smoke", "nope"), 2)
    assert one_line_error(safeship(tmp_path, "baseline", "--url", "x"), 2).startswith("URL must")
    url = demo_url()
    bad = safeship(tmp_path, "baseline", "--url", url, "--requests", "0")
    assert one_line_error(bad, 2).startswith("--requests: Input should be greater")
    alone = safeship(tmp_path, "baseline", "--url", url, "--requests", "20", "--json")
    assert alone.returncode == 0
    report = json.loads(alone.stdout)
    assert report["previous"] is None and report["baseline"]["requests"] == 20


def test_config_check_reports_bad_checks_as_one_line(tmp_path: Path) -> None:
    base = (
        '[environments.prod]\nport = 8080\ntarget = { command = ["app"] }\n\n'
        "[[environments.prod.health.checks]]\n"
        'name = "db"\ntype = "TYPE"\nurl = "URL"\n'
        'headers = { Authorization = "Bearer ${PAYMENTS_KEY}" }\n'
    )

    def check(kind: str, url: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        text = base.replace("TYPE", kind).replace("URL", url)
        (tmp_path / "safeship.toml").write_text(text)
        return safeship(tmp_path, "config", "check", env={"PAYMENTS_KEY": key})

    assert one_line_error(check("mongo", "http://x"), 2) == (
        "safeship.toml:7: environments.prod.health.checks.0.type: unknown type 'mongo' "
        "(expected one of: 'http', 'postgres', 'redis', 'tcp')"
    )
    assert one_line_error(check("http", "htp://api.example.com"), 2) == (
        "safeship.toml:8: environments.prod.health.checks.0.url: "
        "URL must start with http://, https://"
    )
    no_key = check("http", "https://api.example.com/status")
    assert one_line_error(no_key, 2) == (
        "safeship.toml:9: environments.prod.health.checks.0.headers.Authorization: "
        "environment variable PAYMENTS_KEY is not set"
    )
    good = check("http", "https://api.example.com/status", key="pk_0123456789")
    assert good.returncode == 0 and "ok (1 environments: prod)" in good.stdout

"""`safeship metrics`: the deployments' figures from the registry, through the core API, as
Prometheus' text format (parsed back with prometheus_client's parser), printed or served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from safeship import core
from safeship._processes import free_port
from safeship.config import load_config
from safeship.registry import Registry

CONFIG = """[project]
name = "metrics"

[environments.production]
port = {port}
[environments.production.target]
command = ["python", "-m", "app"]

[environments.staging]
port = {port2}
[environments.staging.target]
command = ["python", "-m", "app"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "safeship.toml").write_text(CONFIG.format(port=free_port(), port2=free_port()))
    loaded = load_config(tmp_path / "safeship.toml")
    with Registry(loaded.registry_url()) as registry:
        for n, (env, status, rule, gate) in enumerate(
            [
                ("production", "succeeded", None, "passed"),
                ("production", "succeeded", None, "passed"),
                ("production", "rolled_back", "error_rate", "passed"),
                ("production", "rolled_back", None, None),
                ("staging", "failed", None, "not_run"),
                ("staging", "progressing", None, None),
            ]
        ):
            deployment = registry.create_deployment(
                env, f"v{n}", f"{n:07x}", "test", gate_verdict=gate
            )
            registry.update_deployment(
                deployment,
                status=status,
                rollback_rule=rule,
                completed=status != "progressing",
            )
    return tmp_path


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_deployments_are_counted_by_outcome_rule_and_gate(project: Path) -> None:
    found = samples(core.metrics_exposition(load_config(project / "safeship.toml")))

    def value(name: str, **labels: str) -> float:
        return found[name, tuple(sorted(labels.items()))]

    assert value("safeship_deployments_total", environment="production", outcome="succeeded") == 2
    assert value("safeship_deployments_total", environment="production", outcome="rolled_back") == 2
    assert value("safeship_deployments_total", environment="staging", outcome="failed") == 1
    assert value("safeship_deployments_in_progress", environment="staging") == 1
    assert value("safeship_rollbacks_total", environment="production", rule="error_rate") == 1
    assert value("safeship_rollbacks_total", environment="production", rule="unknown") == 1
    assert value("safeship_gate_verdicts_total", environment="production", verdict="passed") == 3
    assert value("safeship_gate_verdicts_total", environment="staging", verdict="not_run") == 1
    assert value("safeship_time_to_rollback_seconds_count", environment="production") == 2
    assert (
        value(
            "safeship_deployment_duration_seconds_bucket",
            environment="production",
            outcome="succeeded",
            le="+Inf",
        )
        == 2
    )


def test_the_cli_prints_once_or_serves_until_stopped(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    printed = subprocess.run(
        [sys.executable, "-m", "safeship", "metrics"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert 'safeship_deployments_total{environment="production",outcome="succeeded"} 2.0' in (
        printed.stdout
    )
    bad = subprocess.run(
        [sys.executable, "-m", "safeship", "metrics", "--listen", "nowhere"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--listen must be HOST:PORT" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr

    port = free_port()
    loaded = load_config(project / "safeship.toml")
    server = core.serve_metrics(loaded, "127.0.0.1", port)
    try:
        scraped = httpx.get(server.url, timeout=5)
        assert scraped.status_code == 200
        assert (
            samples(scraped.text)[
                ("safeship_deployments_total", (("environment", "staging"), ("outcome", "failed")))
            ]
            == 1
        )
    finally:
        server.close()

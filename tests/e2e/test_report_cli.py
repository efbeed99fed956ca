"""`safeship report` as a user runs it: each format, to stdout or a file, and the one-line
errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeship.registry import Registry
from testing.cli import one_line_error, safeship
from testing.fixtures import ENV, Workspace, make_workspace


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    """A workspace whose registry holds a deployment rolled back with a hostile reason."""
    ws = make_workspace(tmp_path_factory.mktemp("report"))
    with Registry(ws.loaded.registry_url()) as registry:
        deployment = registry.create_deployment(ENV, "v2", "abc1234", "alice")
        registry.update_deployment(
            deployment,
            status="rolled_back",
            rollback_rule="error_rate",
            rollback_reason="error rate too high <script>alert(1)</script>",
            completed=True,
        )
    return ws, deployment


def test_report_markdown_on_stdout_by_prefix(deployed: tuple[Workspace, str]) -> None:
    ws, deployment = deployed
    result = safeship(ws.root, "report", deployment[:8])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Deployment report: v2 to local\n")
    assert "rolled back by the rule **error\\_rate**" in result.stdout
    assert "&lt;script&gt;" in result.stdout and "<script>" not in result.stdout


def test_report_html_to_a_file_and_json(deployed: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, deployment = deployed
    page = tmp_path / "report.html"
    result = safeship(ws.root, "report", deployment, "--format", "html", "--output", str(page))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and f"written to {page}" in result.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<script>" not in text
    assert page.stat().st_mode & 0o077 == 0  # a report is the team's: private like the logs
    result = safeship(ws.root, "report", deployment[:6], "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["id"] == deployment and document["rollback_rule"] == "error_rate"


def test_report_of_an_unknown_deployment_is_one_line(deployed: tuple[Workspace, str]) -> None:
    ws, _ = deployed
    assert one_line_error(safeship(ws.root, "report", "abcdef12"), 2) == (
        "no deployment 'abcdef12'"
    )

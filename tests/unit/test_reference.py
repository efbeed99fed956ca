"""docs/reference.md is generated from the config models and must be current (`make docs`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_reference.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_the_checked_in_reference_is_current() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stdout + result.stderr + "\nrun `make docs`"


def test_a_stale_reference_is_caught(tmp_path: Path) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text((ROOT / "docs" / "reference.md").read_text().replace("`poll_interval`", "`x`"))
    result = run("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "is stale: run `make docs`" in result.stderr


def test_every_key_the_issue_names_is_documented() -> None:
    text = (ROOT / "docs" / "reference.md").read_text()
    for table in (
        "[paths]",
        "[paths.github-actions]",
        "[paths.railway-native]",
        "[paths.circleci]",
    ):
        assert f"## `{table}`" in text
    railway = text.split('## `[environments.<name>.target]` (type = "railway")')[1].split("## ")[0]
    for key in ("endpoint", "poll_interval", "retries", "request_timeout", "deploy_timeout"):
        row = next(line for line in railway.splitlines() if line.startswith(f"| `{key}` |"))
        assert row.rstrip(" |").split("|")[-1].strip(), f"{key} has no description"

"""`safeship secrets` as a user runs it: whole processes, one test per command, the manual
value on stdin (never an argument), exit codes 0 / 1 (a failed rotation) / 2 (usage), and no
value in any output, the registry or the events.

No environment serves here (nothing is deployed): each deploy step is skipped, which keeps the
processes cheap; the deploys themselves are tests/integration/test_rotation_protocol.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeship._processes import free_port
from testing.cli import one_line_error, safeship

CONFIG = """\
[project]
name = "secrets-cli"

[environments.staging]
port = {staging}
strategy = "all-at-once"
[environments.staging.target]
command = ["python", "-c", "pass"]

[environments.production]
port = {production}
strategy = "all-at-once"
[environments.production.target]
command = ["python", "-c", "pass"]

[secrets]
grace = 3600

[secrets.rotate.STRIPE_KEY]
kind = "manual"
category = "api"
checklist = ["Make a restricted key in the dashboard"]

[secrets.rotate.JWT_SECRET]
kind = "random"
category = "application"
environments = ["production"]
"""

VALUES = {
    "staging": "sk_test_staging_value_0123456789abcdef",
    "production": "sk_live_production_value_0123456789ab",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    text = CONFIG.format(staging=free_port(), production=free_port())
    (tmp_path / "safeship.toml").write_text(text, encoding="utf-8")
    return tmp_path


def set_value(cwd: Path, environment: str, value: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", "secrets", "set", "STRIPE_KEY", "-e", environment],
        cwd=cwd,
        input=value + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_rotate_set_finish_status_history_from_the_command_line(project: Path) -> None:
    # About 5 s: eight processes (~0.6 s of CPU each: Python, the config, the registry).
    outputs: list[str] = []

    def ran(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == code, result.stdout + result.stderr
        return result.stdout

    rotated = ran(safeship(project, "secrets", "rotate", "STRIPE_KEY"))
    assert rotated.splitlines()[-1].endswith(
        "waits for a value: safeship secrets set STRIPE_KEY --environment staging"
    )
    assert "Make a restricted key in the dashboard" in rotated
    ran(set_value(project, "staging", VALUES["staging"]))
    in_grace = ran(set_value(project, "production", VALUES["production"]))
    assert "the previous one stays valid until" in in_grace

    finished = ran(safeship(project, "secrets", "finish", "STRIPE_KEY", "--force"))
    assert "finished: the new value is current (staging, production)" in finished

    status = json.loads(ran(safeship(project, "secrets", "status", "--json")))
    states = {(s["secret"], s["environment"]): s["state"] for s in status}
    assert states == {
        ("JWT_SECRET", "production"): "never_rotated",
        ("STRIPE_KEY", "staging"): "on_demand",  # api keys: on demand (period 0)
        ("STRIPE_KEY", "production"): "on_demand",
    }
    history = json.loads(ran(safeship(project, "secrets", "history", "STRIPE_KEY", "--json")))
    [rotation] = history
    assert (rotation["status"], rotation["ok"]) == ("finished", True)
    sets = [s for s in rotation["steps"] if s["step"] == "set"]
    assert [s["environment"] for s in sets] == ["staging", "production"]
    assert all(len(s["fingerprint"]) == 16 for s in sets)

    unknown = safeship(project, "secrets", "rotate", "NOPE")
    assert "[secrets.rotate.NOPE]" in one_line_error(unknown, 2)
    # A store that cannot be opened fails the rotation (exit 1), the current value untouched.
    broken = safeship(
        project, "secrets", "rotate", "JWT_SECRET", env={"SAFESHIP_SECRETS_KEY": "not-a-key"}
    )
    outputs.append(broken.stdout + broken.stderr)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "failed" in broken.stdout and "Traceback" not in broken.stderr

    # Everything written but the encrypted store and the platform's own variables (the local
    # target's .variables file: where releases read the value).
    written = [p.read_bytes().decode("utf-8", "replace") for p in project.rglob("*")
               if p.is_file() and p.suffix != ".enc" and p.name != ".variables"]  # fmt: skip
    for value in VALUES.values():
        assert not any(value in text for text in outputs + written)

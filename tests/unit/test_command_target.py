"""The command target with real scripts (python -c), no shell."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from safeship.targets.base import TargetError
from safeship.targets.command import CommandTarget
from safeship.targets.settings import CommandTargetSettings

PY = sys.executable


def script(code: str) -> list[str]:
    return [PY, "-c", code]


def target(tmp_path: Path, **scripts: object) -> CommandTarget:
    marker = tmp_path / "deployed.txt"
    values: dict[str, object] = {
        "deploy": script(f"open({str(marker)!r}, 'w').write('{{version}}')"),
        "status": script(f"import sys; sys.exit(open({str(marker)!r}).read() != '{{version}}')"),
        "rollback": script(f"open({str(marker)!r}, 'w').write('{{version}}')"),
        "timeout": 5,
        "url": "https://{version}.app.example",
    }
    values.update(scripts)
    return CommandTarget(
        "prod", CommandTargetSettings.model_validate(values), tmp_path / "st", tmp_path
    )


def test_deploy_status_rollback(tmp_path: Path) -> None:
    cmd = target(tmp_path)
    v1 = cmd.deploy("v1")
    v2 = cmd.deploy("v2")
    assert (tmp_path / "deployed.txt").read_text() == "v2"
    assert cmd.is_alive(v2) and not cmd.is_alive(v1)
    assert [r.version for r in cmd.releases()] == ["v2"]
    assert cmd.rollback() == "v1"
    assert (tmp_path / "deployed.txt").read_text() == "v1"
    assert cmd.is_alive(v1)


def test_failure_is_one_line_with_the_last_stderr_line(tmp_path: Path) -> None:
    failing = script(
        "import sys; print('step 1', file=sys.stderr); "
        "print('Error: app not found', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(TargetError) as failed:
        target(tmp_path, deploy=failing).deploy("v1")
    assert str(failed.value) == f"deploy script {PY!r} exited 3: Error: app not found"


def test_timeout_kills_the_script_group(tmp_path: Path) -> None:
    hang = script(
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
        "time.sleep(30)"
    )
    started = time.monotonic()
    with pytest.raises(TargetError, match=r"deploy script .* timed out after 0\.5 s"):
        target(tmp_path, deploy=hang, timeout=0.5).deploy("v1")
    assert time.monotonic() - started < 5


def test_missing_program_and_variables(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot start"):
        target(tmp_path, deploy=["/nonexistent/deployer"]).deploy("v1")
    env_vars = target(tmp_path, variables=script("print('A=1'); print('# c'); print('B = two')"))
    assert env_vars.variables() == {"A": "1", "B": "two"}
    as_json = target(tmp_path, variables=script("print('{\"X\": 5}')"))
    assert as_json.variables() == {"X": "5"}


def test_release_url_comes_from_the_url_setting_and_deploy_needs_it(tmp_path: Path) -> None:
    release = target(tmp_path).deploy("v7")
    assert release.url == "https://v7.app.example"
    with pytest.raises(TargetError, match=r"command target of prod: set `url`"):
        target(tmp_path, url=None).deploy("v8")

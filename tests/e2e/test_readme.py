"""README "Use it on your own service", followed command by command on examples/hello-service.

The commands are read from the README itself, so the page and this test cannot drift apart: a
command this test does not know how to follow fails it. The install lines are checked by
scripts/check_wheel.sh (`make wheel-check`, run by .ci/run before the tests): the wheel in a
fresh venv with only its runtime dependencies, `--help`, the demo, and init, config check and
history on the sample project; the other commands here use the safeship under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from safeship._processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Use it on your own service"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        if line.startswith("    $ "):
            command = line[len("    $ ") :]
            commands.append(re.sub(r"\s+#.*$", "", command).strip())
    return commands


def safeship(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_readme_lists_the_steps_in_order() -> None:
    commands = readme_commands()
    kinds = [c.split()[1] if c.startswith("safeship ") else c.split()[0] for c in commands]
    assert kinds[:3] == ["pipx", "python3", "cp"]
    assert kinds[3:] == ["init", "config", "doctor", "deploy", "history", "status", "down"]


@pytest.mark.timeout(300)
def test_following_the_readme_on_the_sample_project(tmp_path: Path) -> None:
    cwd = ROOT
    port = free_port()
    deployed = None
    try:
        for command in readme_commands():
            words = command.split()
            if words[0] in ("pipx", "python3"):
                continue  # the install: scripts/check_wheel.sh
            if words[0] == "cp":
                assert command == "cp -r examples/hello-service /tmp/hello && cd /tmp/hello"
                cwd = tmp_path / "hello"
                shutil.copytree(ROOT / "examples" / "hello-service", cwd)
                continue
            assert words[0] == "safeship", command
            result = safeship(cwd, *words[1:])
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
            if words[1] == "init":
                # "Edit port in safeship.toml if 8080 is taken": here it always may be.
                # And a 0.3 s bake instead of 30 s, to keep the test short.
                config = cwd / "safeship.toml"
                text = config.read_text().replace("port = 8080", f"port = {port}")
                config.write_text(text.replace("bake_time = 30", "bake_time = 0.3"))
            if words[1] == "doctor":
                assert "ready to deploy" in result.stdout
            if words[1] == "deploy":
                deployed = cwd
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
                assert answer.text == "hello from v1\n"
            if words[1] == "history":
                assert "v1" in result.stdout and "succeeded" in result.stdout
        assert deployed is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # down stopped the router: the port closes
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            except httpx.TransportError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the router still answers after `safeship down`")
    finally:
        if deployed is not None:
            safeship(deployed, "down", "production")

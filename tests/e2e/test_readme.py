"""README "Use it on your own service", followed command by command on examples/hello-service.

The commands are read from the README itself, so the page and this test cannot drift apart: a
command this test does not know how to follow fails it. The install lines are tried once, in
their tested equivalent (`pip install` of this checkout into a fresh venv, as pipx would do);
the other commands use the safeship under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
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
                continue  # the install: test_install_into_a_fresh_venv
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
                # And a 1 s bake instead of 30 s, to keep the test short.
                config = cwd / "safeship.toml"
                text = config.read_text().replace("port = 8080", f"port = {port}")
                config.write_text(text.replace("bake_time = 30", "bake_time = 1"))
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


@pytest.mark.timeout(900)
def test_install_into_a_fresh_venv(tmp_path: Path) -> None:
    """The README's install, as pipx does it: a fresh venv, `pip install` of the clone.

    By default the dependencies come from this test's own environment (a .pth file), so only
    safeship itself is built and installed: its packaging, data files (migrations) and entry
    point. SAFESHIP_FULL_INSTALL_TEST=1 resolves every dependency from the index too (minutes).
    """
    full = bool(os.environ.get("SAFESHIP_FULL_INSTALL_TEST"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    if not full:
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.strip()  # fmt: skip
        ours = sysconfig.get_paths()
        lines = {ours["purelib"], ours["platlib"]}
        (Path(purelib) / "_test_deps.pth").write_text("\n".join(sorted(lines)) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *([] if full else ["--no-deps"]), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=800,
    )
    if install.returncode != 0 and "Could not find a version" in install.stderr:
        pytest.skip("no package index reachable for the build backend or dependencies")
    assert install.returncode == 0, install.stderr[-2000:]
    installed = venv / "bin" / "safeship"
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    located = subprocess.run(
        [str(python), "-c", "import safeship; print(safeship.__file__)"],
        capture_output=True, text=True, timeout=60, env=clean_env, check=True,
    ).stdout  # fmt: skip
    assert str(venv) in located, "safeship must come from the fresh venv, not the checkout"
    help_text = subprocess.run(
        [str(installed), "--help"], capture_output=True, text=True, timeout=60, env=clean_env
    ).stdout
    assert "init" in help_text and "doctor" in help_text
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-service", project)
    for args in (["init"], ["config", "check"], ["history"]):
        result = subprocess.run(
            [str(installed), *args], cwd=project, capture_output=True, text=True, timeout=120,
            env=clean_env,
        )  # fmt: skip
        assert result.returncode == 0, (args, result.stderr)
    assert "no deployments yet" in result.stdout
    code = "from safeship.registry import migrations as m; print(m.head_revision())"
    head = subprocess.run(
        [str(python), "-c", code],
        capture_output=True, text=True, timeout=60, env=clean_env,
    )  # fmt: skip
    assert head.returncode == 0 and head.stdout.strip(), "the migrations must be packaged"

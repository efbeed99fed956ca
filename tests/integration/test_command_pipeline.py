"""`safeship deploy` with the command target and the platform router: the user's scripts
deploy, a real service answers the health checks at the configured URL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.config import load_config
from safeship.pipeline import operations
from safeship.pipeline.deploy import LiveSnapshot
from safeship.pipeline.states import Status

ENV = "prod"


@pytest.fixture
def service() -> Iterator[int]:
    """The "platform": one demo service the deploy script points at (as a PaaS would)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "service never listened"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write(root: Path, port: int, deploy: list[str]) -> Path:
    script = ", ".join(f'"{a}"' for a in deploy)
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
bake_time = 0.2

[environments.{ENV}.target]
type = "command"
deploy = [{script}]
url = "http://127.0.0.1:{port}"
timeout = 10
"""
    )
    return root / "safeship.toml"


def test_command_target_deploys_verifies_and_records(tmp_path: Path, service: int) -> None:
    marker = tmp_path / "deployed.txt"
    ok = [sys.executable, "-c", f"open('{marker}', 'w').write('{{version}}')"]
    loaded = load_config(write(tmp_path, service, ok))

    first = operations.deploy(loaded, ENV, "v1")
    second = operations.deploy(loaded, ENV, "v2")

    assert (first.status, second.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert marker.read_text() == "v2"
    status = operations.status(loaded, ENV)
    assert [(b.name, b.weight) for b in status.backends] == [("v2", 100)]
    assert status.port is None
    shown = subprocess.run(
        [sys.executable, "-m", "safeship", "status", ENV],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"{ENV} · platform-routed · router running" in shown
    assert f"release v2: http://127.0.0.1:{service}, alive" in shown


def test_a_failing_deploy_script_fails_the_deployment_in_one_line(
    tmp_path: Path, service: int
) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('push rejected: quota exceeded')"]
    loaded = load_config(write(tmp_path, service, failing))

    outcome = operations.deploy(loaded, ENV, "v1")

    assert outcome.status is Status.FAILED
    assert outcome.reason is not None and "\n" not in outcome.reason
    assert "push rejected: quota exceeded" in outcome.reason


def test_a_rollback_runs_the_configured_rollback_script(tmp_path: Path, service: int) -> None:
    """The platform serves whatever the deploy script pushed: rolling back a release that
    took over runs the rollback script for the previous version."""
    deployed = tmp_path / "deployed.txt"
    rolled = tmp_path / "rolled-back.txt"
    broken = tmp_path / "BROKEN"

    def script(code: str) -> str:
        return ", ".join(f'"{a}"' for a in [sys.executable, "-c", code])

    # v2 counts as down once BROKEN exists (the process-exit rule then fires).
    status = f"import os, sys; sys.exit(os.path.exists({str(broken)!r}) and '{{version}}' == 'v2')"
    deploy = script(f"open({str(deployed)!r}, 'w').write('{{version}}')")
    rollback = script(f"open({str(rolled)!r}, 'a').write('{{version}};')")
    (tmp_path / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
bake_time = 30

[environments.{ENV}.target]
type = "command"
deploy = [{deploy}]
rollback = [{rollback}]
status = [{script(status)}]
url = "http://127.0.0.1:{service}"
timeout = 10
"""
    )
    loaded = load_config(tmp_path / "safeship.toml")
    first = loaded.config.environments[ENV].model_copy(update={"bake_time": 0.2})
    loaded.config.environments[ENV] = first
    assert operations.deploy(loaded, ENV, "v1").ok
    assert not rolled.exists()
    loaded = load_config(tmp_path / "safeship.toml")

    def break_v2(snapshot: LiveSnapshot) -> None:
        if snapshot.status is Status.PROGRESSING:
            broken.touch()

    outcome = operations.deploy(loaded, ENV, "v2", on_progress=break_v2)

    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert outcome.reason == "release v2 exited while serving traffic"
    assert deployed.read_text() == "v2"  # the deploy script pushed v2 ...
    assert rolled.read_text() == "v1;"  # ... and the rollback script put v1 back, once
    current = operations.status(loaded, ENV)
    assert [(b.name, b.weight) for b in current.backends] == [("v1", 100)]
    assert [r.version for r in current.releases] == ["v1"]

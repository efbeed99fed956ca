"""The `safeship` command as a user runs it: real subprocesses, real signals, exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from safeship import core
from safeship.config import ConfigError
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.demo.runner import BAKE_TIME, BAKE_TIME_VARIABLE, demo_bake_time
from safeship.pipeline import operations
from safeship.registry import EnvironmentBusy, Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
LoadFactory = Callable[..., LoadGenerator]
SAFESHIP = [sys.executable, "-m", "safeship"]


def safeship(
    ws: Workspace | Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cwd = ws.root if isinstance(ws, Workspace) else ws
    return subprocess.run(
        [*SAFESHIP, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("safeship: error: ")
    return lines[0].removeprefix("safeship: error: ")


# Generous limits on waiting for a condition: a loaded machine (or xdist) starts processes slowly.
def wait_for_status(
    ws: Workspace, status: str, step: int | None = None, limit: float = 120
) -> None:
    deadline = time.monotonic() + limit
    with Registry(ws.loaded.registry_url()) as registry:
        while time.monotonic() < deadline:
            active = registry.active(ENV)
            if (
                active
                and active[0].status == status
                and (step is None or active[0].current_step == step)
            ):
                return
            time.sleep(0.05)
    raise AssertionError(f"no deployment reached {status} within {limit}s")


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def test_malformed_config_is_one_line_with_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(
        '[environments.staging]\nport = 8080\nsteps = [10, 50]\ntarget = { command = ["x"] }\n'
    )
    message = assert_one_line_error(safeship(tmp_path, "config", "check"), 2)
    assert message == "safeship.toml:3: environments.staging.steps: the last step must be 100"
    broken = tmp_path / "broken.toml"
    broken.write_text("[environments\n")
    message = assert_one_line_error(
        safeship(tmp_path, "config", "check", "--config", str(broken)), 2
    )
    assert message.startswith("broken.toml:1: syntax: ")


def test_missing_config_and_unknown_environment(tmp_path: Path, workspace: Workspace) -> None:
    message = assert_one_line_error(safeship(tmp_path, "deploy", "local", "--version", "v1"), 2)
    assert message.startswith("safeship.toml not found in ")
    message = assert_one_line_error(safeship(workspace, "deploy", "prod", "--version", "v1"), 2)
    assert message == "safeship.toml:4: environments.prod: unknown environment (configured: local)"


def test_port_in_use_fails_cleanly_and_leaves_no_process(workspace: Workspace) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", workspace.port))
        blocker.listen()
        result = safeship(workspace, "deploy", "local", "--version", "v1")
    message = assert_one_line_error(result, 1)
    assert message == f"port {workspace.port} is already in use by another process"
    assert workspace.pids() == set()
    assert not list((workspace.root / ".safeship" / "run" / ENV).glob("*.json"))


def test_command_that_does_not_exist(workspace: Workspace) -> None:
    toml = workspace.root / "safeship.toml"
    toml.write_text(toml.read_text().replace('"python", "-m"', '"no-such-binary-7f3a", "-m"'))
    result = safeship(workspace, "deploy", "local", "--version", "v1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "command not found: no-such-binary-7f3a" in result.stdout
    assert "v1 failed" in result.stdout
    assert [r.version for r in workspace.environment().target.releases()] == []


def test_deploy_history_status_and_json(workspace: Workspace) -> None:
    result = safeship(workspace, "deploy", "local", "--version", "v1", "--commit", "abc123")
    assert result.returncode == 0, result.stderr
    assert "v1 succeeded" in result.stdout
    status = safeship(workspace, "status", "local")
    assert status.returncode == 0
    assert "release v1:" in status.stdout and "alive" in status.stdout
    history = json.loads(safeship(workspace, "history", "local", "--json").stdout)
    assert [(h["version"], h["status"], h["commit_sha"]) for h in history] == [
        ("v1", "succeeded", "abc123")
    ]
    assert history[0]["completed_at"] is not None
    # No pre-push gate ran for this commit (as after a --no-verify push): recorded as such.
    assert history[0]["gate_verdict"] == "not_run"
    # Its health as docs/registry.md defines it (checks ok, no 5xx: 1.0).
    assert (history[0]["health_score"], history[0]["error_count"]) == (1.0, 0)
    down = safeship(workspace, "down", "local")
    assert down.returncode == 0 and "stopped 2 process(es)" in down.stdout


def test_ctrl_c_mid_canary_rolls_back_and_exits_130(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(30)  # SIGINT ends v2's first step; long enough for it to arrive
    load = load_factory(ws.url, rate=50)
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", "local", "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_status(ws, "progressing", step=10)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    totals = load.stop()
    assert proc.returncode == 130
    assert stderr.strip().splitlines() == [
        "safeship: error: interrupted: v2 rolled_back: deploy interrupted (SIGINT/SIGTERM)"
    ]
    assert "Traceback" not in stderr
    assert serving(ws) == {"v1": 100}
    latest = operations.history(ws.loaded, ENV, limit=1)[0]
    assert (latest.version, latest.status) == ("v2", "rolled_back")
    assert latest.rollback_reason == "deploy interrupted (SIGINT/SIGTERM)"
    assert totals.failed["v1"] == 0 and totals.failed[NO_RELEASE] == 0


def test_killed_orchestrator_never_interrupts_traffic_and_recover_closes_it(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(30)  # the kill ends v2 in its first step
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", "local", "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_status(ws, "progressing", step=10)
    deadline = time.monotonic() + 10
    while serving(ws) != {"v2": 10, "v1": 90} and time.monotonic() < deadline:
        time.sleep(0.05)  # the status is written before the weights move (write-ahead)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait(timeout=10)
    ws.pids()  # remember the orphaned canary's pid for the leak check
    load = load_factory(ws.url, rate=100)
    time.sleep(1.0)
    mid = load.snapshot()
    assert serving(ws) == {"v2": 10, "v1": 90}  # the router kept serving, weights intact
    result = safeship(ws, "recover", "local")
    totals = load.stop()
    assert result.returncode == 0, result.stderr
    assert "was progressing" in result.stdout
    assert serving(ws) == {"v1": 100}
    assert [r.version for r in ws.environment().target.releases()] == ["v1"]
    latest = operations.history(ws.loaded, ENV, limit=1)[0]
    assert (latest.version, latest.status) == ("v2", "rolled_back")
    assert sum(mid.ok.values()) > 0
    assert sum(totals.failed.values()) == 0


def test_one_deploy_per_environment(workspace_factory: WorkspaceFactory) -> None:
    # v2 pauses after its first step until promoted: it holds the lease for as long as the
    # two other deploys take to be refused, however slowly they start.
    ws = workspace_factory(bake_time=0.2, settings="pause_at = [10]")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", "local", "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_status(ws, "progressing")
        running = operations.history(ws.loaded, ENV, limit=1)[0]
        busy = (
            rf"^local is being deployed by \S+@\S+ pid {proc.pid} since "
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(deployment {running.id}\)$"
        )
        with pytest.raises(EnvironmentBusy, match=busy):
            operations.deploy(ws.loaded, ENV, "v3")
        second = safeship(ws, "deploy", "local", "--version", "v3")
        assert re.match(busy, assert_one_line_error(second, 1))
        deadline = time.monotonic() + 60
        while operations.history(ws.loaded, ENV, limit=1)[0].paused_at != 10:
            assert time.monotonic() < deadline, "v2 never paused at 10%"
            time.sleep(0.05)
        assert core.promote(ws.loaded, ENV).version == "v2"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def test_demo_command(tmp_path: Path) -> None:
    # A 1 s bake instead of the demo's 3 s (for a person watching): v3's 20% errors still
    # reach the rollback rule's 20 requests within its 50% step.
    env = {**os.environ, BAKE_TIME_VARIABLE: "1"}
    started = time.monotonic()
    result = safeship(tmp_path, "demo", timeout=90, env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "v1 succeeded" in out and "v2 succeeded" in out
    assert "v3 rolled_back: error rate" in out
    assert "load generator totals" in out
    assert elapsed < 60
    assert not list(tmp_path.iterdir())  # the demo works in its own temporary directory
    # It keeps its config and registry only, and says how to see them on the dashboard.
    [serve_line] = [line for line in out.splitlines() if "safeship serve --config" in line]
    config = Path(serve_line.split("safeship serve --config ", 1)[1].strip())
    # Checked before anything is removed: a path cut short (a wrapped line) once made this
    # test remove its working directory, the repository.
    assert config.is_absolute() and config.name == "safeship.toml", serve_line
    assert config.parent.name.startswith("safeship-demo-"), serve_line
    try:
        kept = sorted(str(p.relative_to(config.parent)) for p in config.parent.rglob("*"))
        assert kept == [".safeship", ".safeship/registry.db", "safeship.toml"]
    finally:
        shutil.rmtree(config.parent, ignore_errors=True)


def test_demo_refuses_a_bake_time_that_is_not_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = f"{BAKE_TIME_VARIABLE}: not a number of seconds from 0 to 60"
    result = safeship(tmp_path, "demo", env={**os.environ, BAKE_TIME_VARIABLE: "abc"})
    assert assert_one_line_error(result, 2) == refused
    assert not list(tmp_path.iterdir())
    for value in ("-1", "nan", "inf", "61"):
        monkeypatch.setenv(BAKE_TIME_VARIABLE, value)
        with pytest.raises(ConfigError) as raised:
            demo_bake_time()
        assert raised.value.problems == [refused]
    monkeypatch.setenv(BAKE_TIME_VARIABLE, "0.5")
    assert demo_bake_time() == 0.5
    monkeypatch.delenv(BAKE_TIME_VARIABLE)
    assert demo_bake_time() == BAKE_TIME  # the demo as users see it


def test_next_deploy_takes_over_a_killed_orchestrators_lease_and_recovers(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(30)  # the kill ends v2 in its first step
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", "local", "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_status(ws, "progressing", step=10)
    proc.kill()  # SIGKILL: the lease stays in the registry, its heartbeat stops
    proc.wait(timeout=10)
    with Registry(ws.loaded.registry_url()) as registry:
        stale = registry.lease(ENV)
        assert stale is not None and stale.holder.endswith(f" pid {proc.pid}")
        # The dead holder's lease now outlives the test: only "same host, dead pid" can take it
        # over (a loaded machine may take longer than the 10 s ttl to start the next command).
        registry.renew_lease(ENV, stale.token, 3600, deployment_id=stale.deployment_id)
    killed = operations.history(ws.loaded, ENV, limit=1)[0]
    assert stale.deployment_id == killed.id

    # v2 needed a long bake to be killed mid-step; v3 only has to finish.
    ws.set_bake_time(0.5)
    started = time.monotonic()
    next_deploy = subprocess.Popen(
        [*SAFESHIP, "deploy", "local", "--version", "v3"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Same host, dead pid: taken over and recovered without waiting for the lease to expire.
        with Registry(ws.loaded.registry_url()) as registry:
            while (record := registry.get(killed.id)) is not None and not record.is_terminal:
                assert time.monotonic() - started < 60, "the killed deploy was not recovered"
                time.sleep(0.05)
        stdout, stderr = next_deploy.communicate(timeout=60)
    finally:
        next_deploy.kill()
    assert next_deploy.returncode == 0, stdout + stderr
    assert "v3 succeeded" in stdout
    recovered = next(r for r in operations.history(ws.loaded, ENV) if r.id == killed.id)
    assert recovered.status == "rolled_back"
    assert recovered.rollback_reason is not None
    assert f"pid {proc.pid} stopped renewing its lease" in recovered.rollback_reason
    assert serving(ws) == {"v3": 100}
    assert [r.version for r in ws.environment().target.releases()] == ["v3"]
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.lease(ENV) is None  # released at the end

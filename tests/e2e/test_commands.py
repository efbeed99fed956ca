"""The commands that had no end-to-end test: `safeship rollback` (both branches), `up`,
`recover` with nothing to recover, `prepush --all`; read-only commands on a Railway environment
without its token; what `status`, `history` and a piped `deploy` print."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from safeship.pipeline import operations
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
SAFESHIP = [sys.executable, "-m", "safeship"]
# Without a terminal and without COLUMNS, as in CI logs: output is 120 columns wide.
PIPED = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "RAILWAY_TOKEN")}


def safeship(
    where: Workspace | Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    cwd = where.root if isinstance(where, Workspace) else where
    return subprocess.run(
        [*SAFESHIP, *args], cwd=cwd, env=PIPED, capture_output=True, text=True, timeout=timeout
    )


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {limit:g} s"
        time.sleep(0.05)


def latest(ws: Workspace) -> tuple[str, str, str | None]:
    record = operations.history(ws.loaded, ENV, limit=1)[0]
    return record.version, record.status, record.rollback_reason


def test_rollback_moves_traffic_back_at_once_without_a_bake(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.2, settings="monitor_time = 0")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    assert operations.deploy(ws.loaded, ENV, "v2").ok
    # Before: the rollback deployed v1 all at once and baked it for the whole bake_time.
    ws.set_bake_time(120)
    result = safeship(ws, "rollback", ENV, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "v1 succeeded"
    # The rollback's own deployment, from its row to its end (the command's start-up aside,
    # which is seconds on a loaded machine): well under the 120 s bake it used to wait.
    took = operations.history(ws.loaded, ENV, limit=1)[0].duration_seconds
    assert took is not None and took < 30, f"the rollback deployment took {took} s"
    assert serving(ws) == {"v1": 100}
    assert [r.version for r in ws.environment().target.releases()] == ["v1"]
    history = operations.history(ws.loaded, ENV, limit=3)
    assert [(r.version, r.status, r.triggered_by) for r in history] == [
        ("v1", "succeeded", "rollback"),
        ("v2", "rolled_back", "cli"),
        ("v1", "succeeded", "cli"),
    ]
    assert history[1].rollback_reason == "rolled back to v1 by safeship rollback"
    assert "monitoring" not in {e.attributes["attributes"].get("stage") for e in events(ws)}


def events(ws: Workspace) -> list[object]:
    with Registry(ws.loaded.registry_url()) as registry:
        first = operations.history(ws.loaded, ENV, limit=1)[0]
        return list(registry.events(first.id))


def test_rollback_after_a_killed_deploy_finishes_the_interrupted_one(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(60)
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", ENV, "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: serving(ws) == {"v2": 10, "v1": 90}, "the canary at 10%", limit=60)
    finally:
        proc.kill()  # SIGKILL: the deployment stays open, its lease's holder is dead
        proc.communicate(timeout=10)
    ws.pids()  # the orphaned canary, for the fixture's leak check
    result = safeship(ws, "rollback", ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        f"{ENV}: interrupted deployment rolled back to the stable release"
    )
    assert serving(ws) == {"v1": 100}
    assert [r.version for r in ws.environment().target.releases()] == ["v1"]
    version, status, reason = latest(ws)
    assert (version, status) == ("v2", "rolled_back")
    assert reason is not None and reason.startswith("orchestrator lost: ")


def test_up_starts_the_router_which_answers_503_until_a_deploy(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    result = safeship(ws, "up", ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ENV}: router listening on http://127.0.0.1:{ws.port}"
    ws.pids()  # the router, for the fixture's leak check
    answer = httpx.get(ws.url + "/api/v1/items", timeout=10)
    assert answer.status_code == 503
    again = safeship(ws, "up", ENV)  # idempotent: the same router keeps serving
    assert again.returncode == 0 and again.stdout == result.stdout
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    assert httpx.get(ws.url + "/api/v1/items", timeout=10).headers["X-Safeship-Release"] == "v1"


def test_recover_with_nothing_to_recover_changes_nothing(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    before = ws.pids()
    result = safeship(ws, "recover", ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ENV}: nothing to recover"
    assert serving(ws) == {"v1": 100}
    assert ws.pids() == before
    assert latest(ws)[:2] == ("v1", "succeeded")


GIT_ENV = {
    **PIPED,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def test_prepush_all_scans_every_file_not_only_the_pushed_change(tmp_path: Path) -> None:
    remote, repo = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(repo))
    git(repo, "checkout", "-q", "-b", "main")
    key = "AKIA" + "QYLPMN5HHHFPZAM2"  # built from pieces: this file holds no key whole
    (repo / "old.py").write_text(f'KEY = "{key}"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old, already pushed")
    git(repo, "push", "-q", "-u", "origin", "main")
    (repo / "new.py").write_text("print('hello')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "new")

    def prepush(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SAFESHIP, "prepush", *args],
            cwd=repo,
            env=GIT_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )

    pushed = prepush()
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr  # the push adds no secret
    everything = prepush("--all")
    assert everything.returncode == 1, everything.stdout + everything.stderr
    assert "every file" in everything.stdout
    assert "old.py:1" in everything.stdout
    assert key not in everything.stdout + everything.stderr  # named, never shown
    refused = prepush("--all", "--staged")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "safeship: error: --all, --staged and --stdin-refs cannot be combined"
    )


RAILWAY = """
[environments.production]
bake_time = 0.2

[environments.production.target]
type = "railway"
project_id = "p"
environment_id = "e"
service_id = "s"
public_url = "https://example.invalid"
"""


def test_read_only_commands_on_railway_need_no_token(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(RAILWAY)
    history = safeship(tmp_path, "history", "production")
    assert history.returncode == 0, history.stderr
    assert history.stdout == "no deployments yet\n"  # and no registry file was created
    assert not (tmp_path / ".safeship").exists()
    status = safeship(tmp_path, "status", "production")
    assert status.returncode == 0, status.stderr
    assert "production · platform-routed" in status.stdout
    # The releases need Railway's API: said in the status, not a failure of it.
    assert "releases: unknown (railway: RAILWAY_TOKEN is not set" in status.stdout
    abort = safeship(tmp_path, "abort", "production")
    assert abort.returncode == 1
    assert abort.stderr.strip() == "safeship: error: no deployment of production is running"
    deploy = safeship(tmp_path, "deploy", "production", "--version", "v1")
    assert deploy.returncode == 1  # a deploy does need it, and says so in one line
    assert "RAILWAY_TOKEN is not set" in deploy.stdout + deploy.stderr


# Four CLI commands beside a deploy: on a loaded 2-core machine each takes seconds to start.
@pytest.mark.timeout(400)
def test_a_paused_deployment_says_so_in_status_history_and_piped_deploy_output(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.2, settings="pause_at = [50]")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", ENV, "--version", "v2"],
        cwd=ws.root,
        env=PIPED,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def paused() -> bool:
            record = operations.history(ws.loaded, ENV, limit=1)[0]
            return record.version == "v2" and record.paused_at == 50

        wait_for(paused, "the pause at 50%", limit=60)
        said = "paused at 50%: safeship promote|abort"
        status = safeship(ws, "status", ENV)
        assert f"last deployment: v2 {said}\n" in status.stdout, status.stdout
        history = safeship(ws, "history", ENV)
        assert said in history.stdout, history.stdout
        assert safeship(ws, "promote", ENV).returncode == 0
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert any(f"] v2 {said}  traffic: v1 50%, v2 50%" in line for line in lines), out
    # Each step's verdict with its figures, once it ends.
    assert any(re.search(r"v2 step 10% passed: v1: \d+ req, \d+ err", line) for line in lines)
    assert any("v2 step 50% answered: " in line for line in lines), out
    assert lines[-1] == "v2 succeeded"
    after = safeship(ws, "status", ENV)
    assert "last deployment: v2 succeeded\n" in after.stdout
    # Its health score and error count, as the registry recorded them (docs/registry.md).
    assert re.search(r"\n  health [01]\.\d\d, \d+ errors?\n", after.stdout), after.stdout


def test_piped_deploy_output_is_state_changes_and_a_summary_every_interval(
    workspace_factory: WorkspaceFactory,
) -> None:
    # The deploy command's display on a console that is not a terminal (a pipe, a CI log),
    # in process: the summary every 10 s, here every 2 s of 2.6 s bakes.
    from rich.console import Console

    from safeship.cli.live import LiveDisplay

    ws = workspace_factory(bake_time=0.2, steps=(50, 100))
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(2.6)
    piped = io.StringIO()
    display = LiveDisplay(Console(file=piped, width=120), summary_interval=2.0)
    try:
        assert operations.deploy(ws.loaded, ENV, "v2", on_progress=display).ok
    finally:
        display.close()
    lines = piped.getvalue().splitlines()
    # Before: a line of figures every second of the bakes.
    assert len(lines) <= 14, piped.getvalue()
    summaries = [line for line in lines if re.search(r"v2 progressing step \d+%: ", line)]
    assert 2 <= len(summaries) <= 4, piped.getvalue()  # one per 2 s of each 2.6 s step
    assert any("v2 step 50% passed: " in line for line in lines), piped.getvalue()


def test_a_long_outcome_is_one_line_when_piped(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    names = [f"A_VERY_LONG_VARIABLE_NAME_THAT_IS_REQUIRED_NUMBER_{n}" for n in range(4)]
    (ws.root / "env.schema.toml").write_text(
        "[local]\n" + "".join(f'{name} = {{ type = "string" }}\n' for name in names)
    )
    result = safeship(ws, "deploy", ENV, "--version", "v1")
    assert result.returncode == 1
    outcome = result.stdout.splitlines()[-1]
    assert outcome.startswith("v1 failed: environment check failed (4 problems): ")
    assert len(outcome) > 120 and all(name in outcome for name in names)

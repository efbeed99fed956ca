"""SIGKILL of `safeship deploy` at each status it passes through, then `safeship recover`.

The crash-safety promise: whenever the orchestrator dies, `safeship recover ENV` leaves the
environment consistent — the stable release serving 100% through the router, the deployment in
a final status with the reason "orchestrator lost", no deployment left open, no release process
left running besides the serving one, and the lease free for the next deploy.

Each case deploys v1 (fast settings), rewrites safeship.toml for the case, starts a real
`safeship deploy local --version v2` subprocess, waits (bounded) until the registry shows the
case's status, SIGKILLs it, runs `safeship recover local` and checks all of the above.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from safeship.config import load_config
from safeship.pipeline import operations
from safeship.registry import DeploymentRecord, Registry
from testing.fixtures import ENV, WORKSPACE_CONFIG, Workspace

WorkspaceFactory = Callable[..., Workspace]
SAFESHIP = [sys.executable, "-m", "safeship"]
# How long a case may take to reach its status before the test gives up.
REACH_LIMIT = 120.0  # a bound on waiting, generous: a loaded machine starts processes slowly
# Requests sent through the router to see which release answers.
PROBES = 20

# A release that starts listening only once the file `release-gate` exists in the project
# (the shell waits for it, then execs the demo service under the same pid). The test never
# creates it: the deploy stays in "deploying", with the release process spawned, until killed
# (a fixed sleep here was a race on a loaded machine).
SLOW_START = (
    'command = ["sh", "-c", "while [ ! -e release-gate ]; do sleep 0.05; done; '
    'exec \\"$0\\" -m safeship.demo.demo_app --port \\"$1\\"", '
    f'"{sys.executable}", "{{port}}"]'
)
DEMO_COMMAND = 'command = ["python", "-m", "safeship.demo.demo_app", "--port", "{port}"]'


@dataclass(frozen=True)
class Case:
    status: str  # the registry status at which the deploy is killed
    final: str  # the status `safeship recover` gives the deployment
    strategy: str = "canary"
    steps: tuple[int, ...] = (10, 50, 100)
    bake_time: float = 1.0
    settings: str = ""  # more lines for [environments.local]
    behaviour: str = ""  # v2's demo behaviour
    env: dict[str, str] = field(default_factory=dict)  # more target variables
    schema: str | None = None  # env.schema.toml content
    command: str | None = None  # another target command line
    step: int | None = None  # the canary step to be at
    paused: bool = False  # wait until the deployment pauses at its step
    weights: dict[str, int] | None = None  # wait until the router has these weights
    spawned: bool = False  # wait until v2's process is started (its pid file written)

    def reached(self, record: DeploymentRecord, ws: Workspace) -> bool:
        if record.status != self.status:
            return False
        if self.step is not None and record.current_step != self.step:
            return False
        if self.paused and record.paused_at != self.step:
            return False
        if self.spawned and not (ws.loaded.run_dir(ENV) / "v2.json").exists():
            return False
        # The status is written before the weights move (write-ahead): wait for them too.
        return self.weights is None or serving(ws) == self.weights


# No "validating" case: the env gate is over in milliseconds since schema patterns run on RE2
# (linear time), and nothing else holds a deploy there on a condition a test controls. A kill
# there leaves what "deploying" leaves before its release spawns (no traffic taken: aborted),
# which the "deploying" and "verifying" cases recover.
CASES = {
    "deploying": Case("deploying", "aborted", command=SLOW_START, bake_time=0.2, spawned=True),
    # v2's health answers 503: verification retries for several seconds before it gives up.
    "verifying": Case("verifying", "aborted", behaviour="health_status=503", bake_time=0.2),
    "progressing": Case(
        "progressing", "rolled_back", bake_time=30.0, step=10, weights={"v2": 10, "v1": 90}
    ),
    "paused": Case(
        "progressing",
        "rolled_back",
        bake_time=0.2,
        settings="pause_at = [50]",
        step=50,
        paused=True,
        weights={"v2": 50, "v1": 50},
    ),
    "monitoring": Case(
        "monitoring",
        "rolled_back",
        steps=(10, 100),
        bake_time=0.2,
        settings="monitor_time = 60",
        weights={"v2": 100},
    ),
    "blue-green keep-warm": Case(
        "monitoring",
        "rolled_back",
        strategy="blue-green",
        bake_time=0.2,
        settings="blue_green = { keep_warm = 60 }",
        weights={"v2": 100},
    ),
}


def configure(
    ws: Workspace,
    *,
    strategy: str = "all-at-once",
    steps: tuple[int, ...] = (100,),
    bake_time: float = 0.2,
    settings: str = "",
    behaviours: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    command: str | None = None,
) -> None:
    """Rewrite the workspace's safeship.toml (same port) and reload it."""
    variables = {
        **{f"DEMO_BEHAVIOUR_{v.upper()}": b for v, b in (behaviours or {}).items()},
        **(env or {}),
    }
    text = WORKSPACE_CONFIG.format(
        port=ws.port,
        strategy=strategy,
        steps=list(steps),
        bake_time=bake_time,
        router="builtin",
        settings=settings,
        env="{ " + ", ".join(f'{k} = "{v}"' for k, v in variables.items()) + " }",
        min_requests=10,
        tables="",
    )
    if command is not None:
        text = text.replace(DEMO_COMMAND, command)
    path = ws.root / "safeship.toml"
    path.write_text(text, encoding="utf-8")
    ws.loaded = load_config(path)


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def answering_versions(ws: Workspace) -> list[str]:
    """The version that answered each of PROBES real requests through the router."""
    versions = []
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        for _ in range(PROBES):
            response = client.get(ws.url + "/api/v1/items")
            assert response.status_code == 200, response.text
            versions.append(response.headers.get("X-Release-Version", "?"))
    return versions


def workspace_processes(root: Path) -> set[int]:
    """Live processes working in the workspace: its releases (cwd = root) and its router."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone, or a zombie: nothing left running
            continue
        if cwd == root or root in cwd.parents:
            found.add(int(entry.name))
    return found


def kill_at(ws: Workspace, case: Case) -> tuple[DeploymentRecord, int]:
    """Start `safeship deploy local --version v2`, SIGKILL it once ``case`` is reached."""
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", ENV, "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + REACH_LIMIT
        with Registry(ws.loaded.registry_url()) as registry:
            while True:
                active = registry.active(ENV)
                if active and case.reached(active[0], ws):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    _, stderr = proc.communicate(timeout=10)
                    latest = registry.history(ENV, limit=1)[0]
                    raise AssertionError(
                        f"never reached {case.status} (last: {latest.version} {latest.status}, "
                        f"exit {proc.returncode}): {stderr.strip()}"
                    )
                time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # no cleanup at all
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    killed = operations.history(ws.loaded, ENV, limit=1)[0]
    assert (killed.version, killed.status) == ("v2", case.status)
    return killed, proc.pid


@pytest.mark.parametrize("name", list(CASES))
def test_recover_after_sigkill(workspace_factory: WorkspaceFactory, name: str) -> None:
    case = CASES[name]
    ws = workspace_factory()
    configure(ws)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    stable_pid = next(r.pid for r in ws.environment().target.releases() if r.version == "v1")
    router_pid = getattr(ws.environment().router, "pid", None)
    configure(
        ws,
        strategy=case.strategy,
        steps=case.steps,
        bake_time=case.bake_time,
        settings=case.settings,
        behaviours={"v2": case.behaviour} if case.behaviour else None,
        env=case.env,
        command=case.command,
    )
    schema = ws.root / "env.schema.toml"
    if case.schema is not None:
        schema.write_text(case.schema, encoding="utf-8")

    killed, killed_pid = kill_at(ws, case)
    ws.pids()  # the orphaned release's pid, for the fixture's leak check
    with Registry(ws.loaded.registry_url()) as registry:
        stale = registry.lease(ENV)
    assert stale is not None and stale.holder.endswith(f" pid {killed_pid}")

    result = subprocess.run(
        [*SAFESHIP, "recover", ENV],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"closed {killed.id[:8]} (v2, was {case.status})" in result.stdout

    # The stable release serves everything, through the router, to real requests.
    assert serving(ws) == {"v1": 100}
    assert answering_versions(ws) == ["v1"] * PROBES
    # The deployment is closed with the reason; nothing is left open.
    record = next(r for r in operations.history(ws.loaded, ENV) if r.id == killed.id)
    assert record.status == case.final
    assert record.rollback_reason is not None
    assert record.rollback_reason.startswith("orchestrator lost: ")
    assert f"pid {killed_pid} stopped renewing its lease" in record.rollback_reason
    assert record.completed_at is not None
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.active(ENV) == []
        assert registry.lease(ENV) is None
    # No orphan: the run dir knows only v1, and only v1 and the router still run.
    run_dir = ws.loaded.run_dir(ENV)
    assert sorted(p.name for p in run_dir.glob("*.json")) == ["v1.json"]
    assert [(r.version, r.pid) for r in ws.environment().target.releases()] == [("v1", stable_pid)]
    assert workspace_processes(ws.root) == {stable_pid, router_pid}

    # The lease is free: the next deploy runs (fast settings, no schema).
    schema.unlink(missing_ok=True)
    configure(ws)
    outcome = operations.deploy(ws.loaded, ENV, "v3")
    assert outcome.ok, outcome.reason
    assert serving(ws) == {"v3": 100}
    assert answering_versions(ws) == ["v3"] * PROBES


# The stable release as a service that drains for 2 s after SIGTERM: the shell (the release's
# pid) traps it and exits 2 s later; the demo service in its process group stops at once.
DRAINING = (
    'command = ["sh", "-c", "trap \\"sleep 2; exit 0\\" TERM; '
    '\\"$0\\" -m safeship.demo.demo_app --port \\"$1\\" & wait", '
    f'"{sys.executable}", "{{port}}"]'
)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_recover_when_killed_while_promotion_stops_the_stable(
    workspace_factory: WorkspaceFactory,
) -> None:
    """Killed after v2 took 100% and passed, while the stable is being stopped: v2 completed
    its rollout, so it must end up serving 100%, recorded as succeeded, with no orphan."""
    ws = workspace_factory()
    configure(ws, command=DRAINING)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    stable = ws.environment().target.releases()[0]
    configure(ws, strategy="canary", steps=(10, 100), command=DRAINING)
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", ENV, "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The stable's demo service has stopped listening: promotion is stopping it.
        deadline = time.monotonic() + REACH_LIMIT
        while listening(stable.port):
            assert proc.poll() is None and time.monotonic() < deadline, "v1 was never stopped"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    ws.pids()
    killed = operations.history(ws.loaded, ENV, limit=1)[0]
    assert killed.version == "v2"
    v2 = next(r for r in ws.environment().target.releases() if r.version == "v2")

    result = subprocess.run(
        [*SAFESHIP, "recover", ENV],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert serving(ws) == {"v2": 100}
    assert answering_versions(ws) == ["v2"] * PROBES
    record = next(r for r in operations.history(ws.loaded, ENV) if r.id == killed.id)
    assert record.status == "succeeded"
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.active(ENV) == []
        assert registry.lease(ENV) is None
    assert sorted(p.name for p in ws.loaded.run_dir(ENV).glob("*.json")) == ["v2.json"]
    router_pid = getattr(ws.environment().router, "pid", None)
    # This release is a shell with the service as its child: both belong to v2.
    v2_tree = {v2.pid, *(c.pid for c in psutil.Process(v2.pid).children(recursive=True))}
    assert workspace_processes(ws.root) == v2_tree | {router_pid}

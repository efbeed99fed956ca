"""Each rollback rule firing on a real release behind the builtin router, with its rule name and
figures in the registry and the rollback.triggered event; a healthy deploy where none fires;
`safeship abort` outside a pause and `safeship rollback` during a deploy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from safeship._processes import free_port
from safeship.cli.pause_cmd import run_rollback_while_running
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.intent import write_intent
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace
from testing.postgres import running_postgres

WorkspaceFactory = Callable[..., Workspace]
LoadFactory = Callable[..., LoadGenerator]

# Lines for [environments.local.rollback] (the workspace's last table): sustained rules judge
# 1 s windows, and the deep/dependency and smoke checks re-run every 0.3 s during bakes.
SHORT = "canary_window = 1\nwindow = 1\nchecks_interval = 0.3\n"


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def rollback_record(ws: Workspace, outcome: DeploymentOutcome) -> tuple[dict[str, Any], Any]:
    """The deployment's rollback (its rule, the event's figures) and its rollback.triggered
    event's attributes."""
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
        events = registry.events(outcome.deployment_id)
    assert record is not None and record.rollback_reason == outcome.reason
    triggered = [e.attributes["attributes"] for e in events if e.name == "rollback.triggered"]
    assert len(triggered) == 1
    assert triggered[0]["rule"] == record.rollback_rule
    assert triggered[0]["reason"] == outcome.reason
    stored: dict[str, Any] = {"rule": record.rollback_rule, "figures": triggered[0]["figures"]}
    return stored, triggered[0]


def deploy_and_act(
    ws: Workspace,
    version: str,
    when: Callable[[LiveSnapshot], bool],
    action: Callable[[], Any],
) -> tuple[DeploymentOutcome, Any]:
    """Deploy ``version`` in a thread; the first time ``when`` holds, run ``action`` there
    (outside the deploy's thread); the outcome and what ``action`` returned."""
    reached = threading.Event()

    def watch(s: LiveSnapshot) -> None:
        if when(s):
            reached.set()

    outcomes: list[DeploymentOutcome] = []
    deploy = threading.Thread(
        target=lambda: outcomes.append(
            operations.deploy(ws.loaded, ENV, version, on_progress=watch)
        )
    )
    deploy.start()
    try:
        assert reached.wait(timeout=120), "the deployment never got there"
        answer = action()
    finally:
        deploy.join(timeout=60)
    assert not deploy.is_alive() and len(outcomes) == 1
    return outcomes[0], answer


def cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ws.cli(), *args], cwd=ws.root, capture_output=True, text=True, timeout=120
    )


class Dependency:
    """A loopback HTTP API standing in for a third-party dependency: 200, or 500 when told."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        failing = self.failing

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(500 if failing.is_set() else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/status"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def dependency() -> Iterator[Dependency]:
    api = Dependency()
    yield api
    api.close()


def http_check(url: str, critical: bool = True) -> str:
    return (
        "[[environments.local.health.checks]]\n"
        f'type = "http"\nname = "payments"\nurl = "{url}"\ntimeout = 2\n'
        f"critical = {str(critical).lower()}\n"
    )


def postgres_check(url: str) -> str:
    # pool_alarm 1.0: the pool shows in db_pool's figures, never as a degraded check.
    return (
        "[[environments.local.health.checks]]\n"
        f'type = "postgres"\nname = "db"\nurl = "{url}"\ntimeout = 2\npool_alarm = 1.0\n'
    )


def test_latency_over_twice_the_stable_p95_rolls_back(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(
        behaviours={"v2": "latency_ms=300"},
        steps=(50, 100),
        bake_time=0.3,
        tables=SHORT + "min_latency_samples = 10\n",
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(3)
    load = load_factory(ws.url, rate=40)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert serving(ws) == {"v1": 100}
    # The requests in flight on v2 (300 ms each) at the switch back finish before it stops.
    assert totals.failed[NO_RELEASE] == 0, totals
    assert sum(totals.ok.values()) > 0
    stored, event = rollback_record(ws, outcome)
    assert stored["rule"] == "latency"
    figures = stored["figures"]
    assert figures["p95_ms"] >= 290 and figures["baseline"] == "stable"  # 300 ms, +-4.4%
    assert figures["baseline_p95_ms"] <= 100 and figures["factor"] == 2.0
    assert figures["samples"] >= 10 and figures["sustained_s"] >= 1.0
    assert event["step"] == 50
    assert outcome.reason is not None and outcome.reason.startswith("p95 latency ")
    assert " > 2x the stable p95 " in outcome.reason


def test_memory_over_its_limit_rolls_back(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(
        behaviours={"v2": "memory_growth_mb_per_s=100"},
        steps=(50, 100),
        bake_time=0.3,
        tables=SHORT + "memory_limit_mb = 120\n",
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(4)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert serving(ws) == {"v1": 100}
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "resources"
    figures = stored["figures"]
    assert figures["memory"] > 0.9 and figures["rss_mb"] > 108
    assert figures["memory_limit_mb"] == 120 and figures["limit"] == 0.9
    assert outcome.reason is not None and " MB of 120 MB (" in outcome.reason


def test_cpu_over_its_limit_rolls_back(workspace_factory: WorkspaceFactory) -> None:
    # A low limit: the busy thread must exceed it even on a machine shared with other tests.
    ws = workspace_factory(
        behaviours={"v2": "cpu_burn=1"},
        steps=(50, 100),
        bake_time=0.3,
        tables=SHORT + "resource_utilization = 0.25\n",
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(4)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "resources"
    assert stored["figures"]["cpu"] > 0.25 and "memory" not in stored["figures"]
    assert outcome.reason is not None and "of a core > 25%, sustained for " in outcome.reason


@pytest.mark.postgres
def test_database_pool_exhausted_rolls_back(workspace_factory: WorkspaceFactory) -> None:
    with running_postgres("max_connections=20") as server:
        ws = workspace_factory(
            steps=(50, 100),
            bake_time=0.3,
            tables=SHORT + "db_pool_utilization = 0.5\n" + postgres_check(server.admin_url),
        )
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        ws.set_bake_time(3)
        held = [psycopg.connect(server.admin_url, autocommit=True) for _ in range(10)]
        try:
            outcome = operations.deploy(ws.loaded, ENV, "v2")
        finally:
            for conn in held:
                conn.close()
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert serving(ws) == {"v1": 100}
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "db_pool"
    figures = stored["figures"]
    assert figures["check"] == "postgres:db" and figures["max"] == 20
    assert figures["used"] >= 10 and figures["utilization"] >= 0.5
    assert figures["threshold"] == 0.5 and figures["sustained_s"] >= 1.0


@pytest.mark.postgres
def test_database_down_rolls_back_at_once(workspace_factory: WorkspaceFactory) -> None:
    with running_postgres("max_connections=20") as server:
        ws = workspace_factory(
            steps=(50, 100), bake_time=0.3, tables=SHORT + postgres_check(server.admin_url)
        )
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        ws.set_bake_time(5)
        outcome, _ = deploy_and_act(ws, "v2", lambda s: s.status is Status.PROGRESSING, server.stop)
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert serving(ws) == {"v1": 100}
    stored, event = rollback_record(ws, outcome)
    assert stored["rule"] == "dependency_failed"
    figures = stored["figures"]
    assert figures["check"] == "postgres:db" and figures["status"] == "failed"
    assert "refused" in figures["detail"].lower()
    assert event["step"] == 50  # at once: within the first step's 5 s bake


def test_dependency_degraded_three_times_in_a_row_rolls_back(
    workspace_factory: WorkspaceFactory, dependency: Dependency
) -> None:
    ws = workspace_factory(
        steps=(50, 100),
        bake_time=0.3,
        tables=SHORT + http_check(dependency.url, critical=False),
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(5)
    outcome, _ = deploy_and_act(
        ws, "v2", lambda s: s.status is Status.PROGRESSING, dependency.failing.set
    )
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "dependency_degraded"
    figures = stored["figures"]
    assert figures["count"] == 3 and figures["limit"] == 3
    assert figures["check"] == "http:payments" and figures["http_status"] == 500
    assert outcome.reason is not None
    assert outcome.reason.startswith("dependency http:payments not ok 3 times in a row")


def test_intermittent_smoke_failures_roll_back(workspace_factory: WorkspaceFactory) -> None:
    smoke = (
        "[[environments.local.health.smoke.flows]]\n"
        'name = "catalogue"\ncritical = false\n'
        '[[environments.local.health.smoke.flows.steps]]\npath = "/api/v1/items"\n'
    )
    ws = workspace_factory(
        behaviours={"v2": "error_rate=1"},
        steps=(50, 100),
        bake_time=0.3,
        tables=SHORT + "consecutive_failures = 2\n" + smoke,
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(5)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "smoke_failures"
    figures = stored["figures"]
    assert figures["count"] == 2 and figures["level"] == 3 and figures["http_status"] == 500
    assert figures["check"].startswith("smoke:catalogue")


def test_healthy_deploy_under_every_rule_fires_none(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory, dependency: Dependency
) -> None:
    smoke = (
        "[[environments.local.health.smoke.flows]]\n"
        'name = "catalogue"\n'
        '[[environments.local.health.smoke.flows.steps]]\npath = "/api/v1/items"\n'
    )
    ws = workspace_factory(
        steps=(50, 100),
        bake_time=0.3,
        settings="monitor_time = 2",
        # latency_factor 4, not the default 2: the demo answers in about 2 ms, and under the
        # whole suite's load a just-started release's p95 swings to 2.5x that (4.7 ms against
        # 2.0 ms, sustained for 1 s, failed a CI run). The rule has no floor in milliseconds
        # yet; its default's sensitivity and false rollbacks are measured in docs/delivery.md.
        tables=SHORT
        + "min_latency_samples = 10\nlatency_factor = 4\nmemory_limit_mb = 1000\n"
        + http_check(dependency.url)
        + smoke,
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(2)
    load = load_factory(ws.url, rate=40)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    totals = load.stop()
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert serving(ws) == {"v2": 100}
    assert sum(totals.failed.values()) == 0 and totals.ok["v2"] > 0
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
        events = registry.events(outcome.deployment_id)
    assert record is not None and record.rollback_rule is None
    assert not [e for e in events if e.name == "rollback.triggered"]


def test_safeship_abort_in_the_middle_of_a_step(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(steps=(50, 100), bake_time=0.3)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(120)  # the request ends it; long enough for a slow CLI to arrive
    outcome, answer = deploy_and_act(
        ws,
        "v2",
        lambda s: s.status is Status.PROGRESSING and s.weights == {"v1": 50, "v2": 50},
        lambda: cli(ws, "abort", ENV),
    )
    assert answer.returncode == 0, answer.stderr
    assert "abort requested for v2 (progressing at 50%)" in answer.stdout
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "aborted at 50% by `safeship abort`"
    assert serving(ws) == {"v1": 100}
    stored, _ = rollback_record(ws, outcome)
    assert stored == {
        "rule": "manual",
        "figures": {"step": 50, "status": "progressing", "by": "safeship abort"},
    }


def test_safeship_abort_while_monitoring_and_promote_refused(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(steps=(100,), bake_time=0.3, settings="monitor_time = 120")
    assert operations.deploy(ws.loaded, ENV, "v1").ok

    def promote_then_abort() -> tuple[subprocess.CompletedProcess[str], ...]:
        return cli(ws, "promote", ENV), cli(ws, "abort", ENV)

    outcome, (promote, abort) = deploy_and_act(
        ws, "v2", lambda s: s.status is Status.MONITORING, promote_then_abort
    )
    assert promote.returncode == 1
    assert promote.stderr.strip() == "safeship: error: no deployment of local is paused"
    assert abort.returncode == 0 and "abort requested for v2 (monitoring at 100%)" in abort.stdout
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "aborted at 100% while monitoring by `safeship abort`"
    assert serving(ws) == {"v1": 100}
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "manual" and stored["figures"]["status"] == "monitoring"


def test_abort_without_a_running_deployment_is_one_line(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.3)
    answer = cli(ws, "abort", ENV)
    assert answer.returncode == 1
    assert answer.stderr == "safeship: error: no deployment of local is running\n"


def test_safeship_rollback_during_a_deploy_asks_it_to_roll_back(
    workspace_factory: WorkspaceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = workspace_factory(steps=(50, 100), bake_time=0.3)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(120)  # the request ends it; long enough for a slow CLI to arrive
    config = ws.root / "safeship.toml"
    assert run_rollback_while_running(config, ENV) is None  # nothing runs: not for it
    outcome, code = deploy_and_act(
        ws,
        "v2",
        lambda s: s.status is Status.PROGRESSING and s.step == 50,
        lambda: run_rollback_while_running(config, ENV),
    )
    assert code == 0
    assert "a deployment of v2 is running (progressing at 50%); abort requested" in (
        capsys.readouterr().out.replace("\n", " ")
    )
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "aborted at 50% by `safeship rollback`"
    assert serving(ws) == {"v1": 100}
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "manual" and stored["figures"]["by"] == "safeship rollback"


# Holds SQLite's write lock on the registry until stdin closes (or 60 s): another process, as a
# second safeship or a dashboard writing at the wrong moment would.
HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
db.execute("COMMIT")
"""


def test_a_locked_registry_never_holds_the_rollback_switch(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(steps=(50, 100), bake_time=0.3)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(60)
    database = ws.root / ".safeship" / "registry.db"
    assert database.exists()
    holder: subprocess.Popen[str] | None = None

    def lock_and_crash_the_canary() -> float:
        nonlocal holder
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (canary,) = [r for r in ws.environment().target.releases() if r.version == "v2"]
        assert canary.pid is not None
        os.kill(canary.pid, signal.SIGKILL)  # the process-exit rule fires at once
        crashed = time.monotonic()
        deadline = crashed + 20
        while serving(ws) != {"v1": 100}:
            assert time.monotonic() < deadline, "traffic never went back to v1"
            time.sleep(0.05)
        switched = time.monotonic() - crashed
        # The record waits for the registry, not the traffic: the lock goes once switched.
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        return switched

    try:
        outcome, switched = deploy_and_act(
            ws,
            "v2",
            lambda s: s.status is Status.PROGRESSING and s.step == 50,
            lock_and_crash_the_canary,
        )
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
    # Before: the rollback first wrote the registry, so traffic stayed on the dead canary
    # for as long as the lock was held.
    assert switched < 5, f"traffic went back to v1 {switched:.1f} s after the crash"
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    stored, _ = rollback_record(ws, outcome)
    assert stored["rule"] == "process_exit"
    # Written once the lock was gone: no intent left behind.
    assert not list((ws.root / ".safeship" / "run" / ENV).glob("rollback-*.intent"))


def test_recover_completes_a_rollback_record_from_its_intent(
    workspace_factory: WorkspaceFactory,
) -> None:
    """A rollback whose registry write never happened (the registry stayed locked, or safeship
    died after the switch) is recorded by the next recover from its intent file."""
    ws = workspace_factory()
    run_dir = ws.root / ".safeship" / "run" / ENV
    with Registry(ws.loaded.registry_url()) as registry:
        deployment = registry.create_deployment(ENV, "v2", None, "cli")
        registry.update_deployment(deployment, status="progressing", current_step=50)
    write_intent(
        run_dir,
        deployment,
        {
            "status": "rolled_back",
            "rollback_reason": "release v2 exited while serving traffic",
            "completed": True,
            "rollback_rule": "process_exit",
        },
    )
    assert (os.stat(next(run_dir.glob("rollback-*.intent"))).st_mode & 0o777) == 0o600
    result = cli(ws, "recover", ENV)
    assert result.returncode == 0, result.stderr
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(deployment)
    assert record is not None and record.status == "rolled_back"
    assert record.rollback_reason == "release v2 exited while serving traffic"
    assert record.rollback_rule == "process_exit"
    assert record.completed_at is not None
    assert not list(run_dir.glob("rollback-*.intent"))

"""Time from a fault to the stable release serving 100% with the deployment in its final state.

For each fault, RUNS deployments of a faulty version against a stable one, under steady load
(100 requests/s through the router, all on 127.0.0.1), with the demo service and the real
router, target and registry. The clock starts at the fault and stops when `deploy` returns —
by then the router is back on the stable release (checked) and the final status is recorded.

  crash on start   the process exits before listening; clock from the deploying stage
  crash in canary  kill -9 of the canary 0.3 s into the 10% step; clock from the kill
  5xx health       /api/health turns 500 one second after start (mid 10% step); clock from
                   then, measured from the process spawn, so slightly conservative
  error rate       20% of requests answer 500 from the first one; clock from the 10% shift

Prints median and max seconds per fault. Usage: python benchmarks/rollback_time.py [RUNS]
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from safeship.config import LoadedConfig, load_config
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.demo.runner import free_port
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.environment import open_environment
from safeship.pipeline.states import Status
from safeship.targets.base import Release

ENV = "bench"
UNHEALTHY_AFTER = 1.0
FAULTS = {
    "crash on start": "crash_on_start",
    "crash in canary": "healthy",
    "5xx health": f"unhealthy_after={UNHEALTHY_AFTER}",
    "error rate": "error_rate=0.2",
}
EXPECTED = {
    "crash on start": Status.FAILED,
    "crash in canary": Status.ROLLED_BACK,
    "5xx health": Status.ROLLED_BACK,
    "error rate": Status.ROLLED_BACK,
}


def version_name(fault: str, run: int) -> str:
    return f"{fault.replace(' ', '-')}-{run}"


def write_config(root: Path, runs: int) -> LoadedConfig:
    behaviours = ", ".join(
        f'DEMO_BEHAVIOUR_{version_name(fault, run).upper().replace("-", "_")} = "{spec}"'
        for fault, spec in FAULTS.items()
        for run in range(runs)
    )
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
port = {free_port()}
steps = [10, 50, 100]
bake_time = 3.0
health = {{ interval = 0.25, backoff = 0.1 }}
rollback = {{ error_rate = 0.05, min_requests = 20 }}

[environments.{ENV}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ {behaviours} }}
""",
        encoding="utf-8",
    )
    return load_config(root / "safeship.toml")


@dataclass
class FaultClock:
    """Watches a deployment's live snapshots and notes when its fault happened."""

    fault: str
    loaded: LoadedConfig
    version: str
    started: float | None = None
    killed: bool = False
    step_at: float | None = None

    def __call__(self, s: LiveSnapshot) -> None:
        if self.fault == "crash on start" and s.status is Status.DEPLOYING and self.started is None:
            self.started = time.monotonic()
        elif s.status is Status.PROGRESSING and s.step == 10:
            if self.fault == "error rate" and self.started is None and s.weights.get(self.version):
                self.started = time.monotonic()
            elif self.fault == "crash in canary" and not self.killed and self._in_step_for(0.3):
                self._kill_canary()
            elif self.fault == "5xx health" and self.started is None:
                release = self._release()
                self.started = (
                    time.monotonic() - (time.time() - release.started_at) + UNHEALTHY_AFTER
                )

    def _in_step_for(self, seconds: float) -> bool:
        if self.step_at is None:
            self.step_at = time.monotonic()
        return time.monotonic() - self.step_at >= seconds

    def _release(self) -> Release:
        target = open_environment(self.loaded, ENV).target
        return next(r for r in target.releases() if r.version == self.version)

    def _kill_canary(self) -> None:
        pid = self._release().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.started = time.monotonic()
        self.killed = True


def one_run(loaded: LoadedConfig, fault: str, run: int) -> tuple[float, DeploymentOutcome]:
    version = version_name(fault, run)
    clock = FaultClock(fault, loaded, version)
    outcome = operations.deploy(loaded, ENV, version, on_progress=clock)
    ended = time.monotonic()
    router = open_environment(loaded, ENV).router
    weights = {b.name: b.weight for b in router.backends()}
    if weights != {"stable": 100}:
        raise SystemExit(f"{version}: router left at {weights}, not stable 100%")
    if clock.started is None:
        raise SystemExit(f"{version}: the fault never happened ({outcome.status})")
    return ended - clock.started, outcome


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    root = Path(tempfile.mkdtemp(prefix="safeship-bench-"))
    loaded = write_config(root, runs)
    results: dict[str, list[float]] = {}
    statuses: dict[str, list[Status]] = {}
    load: LoadGenerator | None = None
    try:
        first = operations.deploy(loaded, ENV, "stable")
        assert first.ok, first.reason
        port = loaded.config.environments[ENV].port
        load = LoadGenerator(f"http://127.0.0.1:{port}/api/v1/items", rate=100, max_seconds=600)
        load.start()
        for fault in FAULTS:
            for run in range(runs):
                seconds, outcome = one_run(loaded, fault, run)
                results.setdefault(fault, []).append(seconds)
                statuses.setdefault(fault, []).append(outcome.status)
                print(
                    f"  {fault:16} run {run + 1:2}: {seconds:6.2f}s {outcome.status}",
                    file=sys.stderr,
                )
        totals = load.stop()
    finally:
        if load is not None:
            load.stop()
        operations.down(loaded, ENV)
    print(f"\nRollback time, {runs} runs per fault, load 100 req/s (seconds from fault)")
    print(f"{'fault':18} {'median':>7} {'max':>7}  {'ended as expected':>18}")
    for fault, samples in results.items():
        ok = sum(status is EXPECTED[fault] for status in statuses[fault])
        print(
            f"{fault:18} {statistics.median(samples):7.2f} {max(samples):7.2f}  "
            f"{ok:>9}/{len(samples)} {EXPECTED[fault].value}"
        )
    stable_failed = totals.failed["stable"] + totals.failed[NO_RELEASE]
    print(
        f"\nload: {sum(totals.ok.values())} ok, {sum(totals.failed.values())} failed; "
        f"failed answers from the stable release or no release: {stable_failed}"
    )
    worst = max(max(samples) for samples in results.values())
    print(f"worst case {worst:.2f}s: {'within' if worst < 5 else 'OVER'} the 5 s budget")


if __name__ == "__main__":
    main()

"""Benchmark 1: per fault, the time from the fault to the stable release serving 100% with the
deployment in its final state, on the local target with the demo service.

For each fault, RUNS deployments of a faulty version against a stable one, under steady load
(LOAD_RATE requests/s through the router, all on 127.0.0.1), with the demo service and the real
router, target and registry. The environment has the rollback rules (error rate 5%, latency
2x p95, memory 90% of MEMORY_LIMIT_MB) and the canary judge (``[analysis]``, defaults). The clock
starts at the fault and stops when `deploy` returns — by then the router is back on the stable
release (checked) and the final status is recorded.

  crash on start   the process exits before listening; clock from the deploying stage
  crash in canary  kill -9 of the canary 0.3 s into the 10% step; clock from the kill
  5xx health       /api/health turns 500 one second after start (mid 10% step); clock from
                   then, measured from the process spawn, so slightly conservative
  error rate 20%   20% of requests answer 500 from the first one; clock from the 10% shift
  error rate +5pp  5% of requests answer 500 (stable: 0%), at the 10% step: 5% does not exceed
                   the fixed 5% threshold, the canary judge has to see it; clock from the shift
  latency 2x p95   the canary adds the stable's measured p95 to each answer (twice the stable's
                   p95); clock from the 10% shift
  memory growth    the canary's RSS grows MEMORY_GROWTH MB/s; clock from the moment its RSS
                   passes the rule's limit (read from /proc at every live frame)

With --manual-rollback it measures `safeship rollback ENV` instead (issue 11 section 6): RUNS
times, a healthy version is deployed over the stable one and `safeship rollback` (the CLI, in
a subprocess) is timed from its start until it exits, the stable version serving 100% (checked)
and the rollback recorded. Under the same load.

A fault the pipeline does not catch lets its version promote: counted as missed, and the stable
version is deployed again before the next run. Prints median and max seconds per fault beside
the goal. Usage: python benchmarks/rollback_time.py [RUNS (5)] [--faults a,b,...]
  [--manual-rollback]
  (fault names: crash-on-start, crash-in-canary, 5xx-health, error-rate-20, error-rate-5pp,
   latency-2x, memory-growth)
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from safeship.config import LoadedConfig, load_config
from safeship.config.models import RollbackRules
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.demo.runner import free_port
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.environment import open_environment
from safeship.pipeline.states import TAKES_TRAFFIC, Status
from safeship.targets.base import Release

ENV = "bench"
LOAD_RATE = 50
UNHEALTHY_AFTER = 1.0
MEMORY_GROWTH = 4.0  # MB/s
MEMORY_LIMIT_MB = 160.0
MEMORY_UTILIZATION = 0.9
# Bounds an undetected fault: it promotes after the steps and this monitoring window.
MONITOR_TIME = 30.0


@dataclass(frozen=True)
class Fault:
    name: str
    behaviour: str
    expected: Status
    goal: float | None  # seconds; None: no goal set
    needs: str | None = None  # a RollbackRules field the fault's rule needs


FAULTS = {
    "crash-on-start": Fault("crash on start", "crash_on_start", Status.FAILED, 5.0),
    "crash-in-canary": Fault("crash in canary", "healthy", Status.ROLLED_BACK, 5.0),
    "5xx-health": Fault(
        "5xx health", f"unhealthy_after={UNHEALTHY_AFTER}", Status.ROLLED_BACK, 5.0
    ),
    "error-rate-20": Fault("error rate 20%", "error_rate=0.2", Status.ROLLED_BACK, 30.0),
    "error-rate-5pp": Fault("error rate +5pp", "error_rate=0.05", Status.ROLLED_BACK, 30.0),
    # latency_ms is filled in once the stable's p95 is measured.
    "latency-2x": Fault(
        "latency 2x p95", "latency_ms={p95}", Status.ROLLED_BACK, 60.0, "latency_factor"
    ),
    "memory-growth": Fault(
        "memory growth",
        f"memory_growth_mb_per_s={MEMORY_GROWTH:g}",
        Status.ROLLED_BACK,
        None,
        "memory_limit_mb",
    ),
}


def version_name(key: str, run: int) -> str:
    return f"{key}-{run}"


def rollback_table() -> str:
    """The rules, with the latency and resource keys only when this safeship has them."""
    table = "error_rate = 0.05, min_requests = 20"
    if "memory_limit_mb" in RollbackRules.model_fields:
        table += (
            f", canary_window = 5, window = 10, latency_factor = 2.0, "
            f"resource_utilization = {MEMORY_UTILIZATION}, memory_limit_mb = {MEMORY_LIMIT_MB:g}"
        )
    return table


def write_config(
    root: Path, port: int, faults: list[str], runs: int, p95_ms: float
) -> LoadedConfig:
    behaviours = ", ".join(
        f"DEMO_BEHAVIOUR_{version_name(key, run).upper().replace('-', '_')} = "
        f'"{FAULTS[key].behaviour.format(p95=round(p95_ms, 2))}"'
        for key in faults
        for run in range(runs)
    )
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
port = {port}
steps = [10, 50, 100]
bake_time = 3.0
monitor_time = {MONITOR_TIME:g}
health = {{ interval = 0.25, backoff = 0.1 }}
rollback = {{ {rollback_table()} }}

[environments.{ENV}.analysis]
nodata_extension = 60

[environments.{ENV}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ {behaviours} }}
""",
        encoding="utf-8",
    )
    return load_config(root / "safeship.toml")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class FaultClock:
    """Watches a deployment's live snapshots and notes when its fault happened."""

    key: str
    loaded: LoadedConfig
    version: str
    started: float | None = None
    killed: bool = False
    step_at: float | None = None
    pid: int | None = field(default=None)

    def __call__(self, s: LiveSnapshot) -> None:
        key = self.key
        if key == "crash-on-start" and s.status is Status.DEPLOYING and self.started is None:
            self.started = time.monotonic()
        elif key == "memory-growth" and s.status in TAKES_TRAFFIC and self.started is None:
            self.pid = self.pid or self._release().pid
            rss = rss_mb(self.pid) if self.pid else None
            if rss is not None and rss > MEMORY_UTILIZATION * MEMORY_LIMIT_MB:
                self.started = time.monotonic()
        elif s.status is Status.PROGRESSING and s.step == 10:
            shifted = bool(s.weights.get(self.version))
            if key in ("error-rate-20", "error-rate-5pp", "latency-2x"):
                if self.started is None and shifted:
                    self.started = time.monotonic()
            elif key == "crash-in-canary" and not self.killed and self._in_step_for(0.3):
                self._kill_canary()
            elif key == "5xx-health" and self.started is None:
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


@dataclass
class Result:
    seconds: float | None  # None: the fault was not caught (its version promoted)
    status: Status
    reason: str


def weights(loaded: LoadedConfig) -> dict[str, int]:
    return {b.name: b.weight for b in open_environment(loaded, ENV).router.backends()}


def one_run(loaded: LoadedConfig, key: str, run: int, stable: str) -> Result:
    version = version_name(key, run)
    clock = FaultClock(key, loaded, version)
    outcome: DeploymentOutcome = operations.deploy(loaded, ENV, version, on_progress=clock)
    ended = time.monotonic()
    if outcome.ok:
        return Result(None, outcome.status, "promoted: the fault was not detected")
    now = weights(loaded)
    if now != {stable: 100}:
        raise SystemExit(f"{version}: router left at {now}, not {stable} 100%")
    if clock.started is None:
        raise SystemExit(f"{version}: the fault never happened ({outcome.status})")
    return Result(ended - clock.started, outcome.status, outcome.reason or "")


def stable_p95_ms(port: int, samples: int = 200) -> float:
    """p95 of the stable demo service's answers (no behaviour) through the router, in ms."""
    latencies = []
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        for _ in range(samples):
            started = time.perf_counter()
            client.get(f"http://127.0.0.1:{port}/api/v1/items").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    return statistics.quantiles(latencies, n=20)[-1]


def parse_args() -> tuple[int, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=int, default=5)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated fault names")
    parser.add_argument(
        "--manual-rollback", action="store_true", help="time `safeship rollback` instead"
    )
    args = parser.parse_args()
    if args.manual_rollback:
        return args.runs, []
    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown or not chosen or args.runs < 1:
        what = f"unknown fault {unknown[0]!r}" if unknown else "RUNS and --faults must not be empty"
        parser.exit(2, f"rollback_time: {what} (faults: {', '.join(FAULTS)})\n")
    missing = [
        f for f in chosen if FAULTS[f].needs and FAULTS[f].needs not in RollbackRules.model_fields
    ]
    for key in missing:
        print(f"rollback_time: skipping {key}: this safeship has no rollback.{FAULTS[key].needs}")
    return args.runs, [f for f in chosen if f not in missing]


def manual_rollbacks(
    root: Path, loaded: LoadedConfig, runs: int
) -> tuple[list[float], list[float]]:
    """Seconds `safeship rollback` took, per run, as a command and as the rollback's own
    deployment (its registry row, started to completed: the command's start-up aside)."""
    took: list[float] = []
    recorded: list[float] = []
    env = open_environment(loaded, ENV)
    for run in range(runs):
        version = f"next-{run}"
        outcome = operations.deploy(loaded, ENV, version)
        assert outcome.ok, outcome.reason
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "safeship", "rollback", ENV],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.perf_counter() - started
        assert result.returncode == 0, result.stdout + result.stderr
        serving = {b.name: b.weight for b in env.router.backends()}
        assert serving == {"stable": 100}, serving
        row = operations.history(loaded, ENV, limit=1)[0]
        assert row.triggered_by == "rollback" and row.duration_seconds is not None
        print(
            f"  safeship rollback run {run + 1:2}: {seconds:6.2f}s "
            f"(the rollback deployment {row.duration_seconds:.2f}s)",
            file=sys.stderr,
        )
        took.append(seconds)
        recorded.append(row.duration_seconds)
    return took, recorded


def main() -> None:
    runs, faults = parse_args()
    if not faults:
        main_manual(runs)
        return
    root = Path(tempfile.mkdtemp(prefix="safeship-bench-"))
    port = free_port()
    loaded = write_config(root, port, faults, runs, 0.0)
    results: dict[str, list[Result]] = {}
    load: LoadGenerator | None = None
    stable = "stable"
    try:
        first = operations.deploy(loaded, ENV, stable)
        assert first.ok, first.reason
        load = LoadGenerator(
            f"http://127.0.0.1:{port}/api/v1/items", rate=LOAD_RATE, max_seconds=3600
        )
        load.start()
        p95 = stable_p95_ms(port)
        print(f"stable demo service p95 through the router: {p95:.2f} ms", file=sys.stderr)
        loaded = write_config(root, port, faults, runs, p95)
        for key in faults:
            for run in range(runs):
                result = one_run(loaded, key, run, stable)
                results.setdefault(key, []).append(result)
                took = "missed" if result.seconds is None else f"{result.seconds:6.2f}s"
                print(
                    f"  {FAULTS[key].name:16} run {run + 1:2}: {took} {result.status}: "
                    f"{result.reason[:90]}",
                    file=sys.stderr,
                )
                if result.seconds is None:  # the faulty version serves: put a good one back
                    stable = f"stable-{key}-{run}"
                    assert operations.deploy(loaded, ENV, stable).ok
        totals = load.stop()
    finally:
        if load is not None:
            load.stop()
        operations.down(loaded, ENV)
    stable_failed = sum(n for name, n in totals.failed.items() if name.startswith("stable"))
    report(results, runs, p95, stable_failed + totals.failed[NO_RELEASE])


def main_manual(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="safeship-bench-"))
    port = free_port()
    loaded = write_config(root, port, [], runs, 0.0)
    load: LoadGenerator | None = None
    try:
        assert operations.deploy(loaded, ENV, "stable").ok
        load = LoadGenerator(
            f"http://127.0.0.1:{port}/api/v1/items", rate=LOAD_RATE, max_seconds=3600
        )
        load.start()
        took, recorded = manual_rollbacks(root, loaded, runs)
        totals = load.stop()
    finally:
        if load is not None:
            load.stop()
        operations.down(loaded, ENV)
    failed = sum(totals.failed.values())
    print(
        f"\n`safeship rollback`, {runs} runs, load {LOAD_RATE} req/s (bake_time 3 s, monitor "
        f"{MONITOR_TIME:g} s): command median {statistics.median(took):.2f} s, max "
        f"{max(took):.2f} s; its deployment median {statistics.median(recorded):.2f} s, max "
        f"{max(recorded):.2f} s; failed answers: {failed}"
    )


# What caught a fault, by the start of the rollback reason.
MECHANISMS = (
    ("canary analysis", "judge"),
    ("error rate", "error-rate rule"),
    ("p95 latency", "latency rule"),
    ("RSS", "resource rule"),
    ("CPU", "resource rule"),
    ("health check", "health rule"),
    ("release", "process exit"),
    ("promoted", "nothing"),
)


def mechanism(reason: str) -> str:
    return next((name for prefix, name in MECHANISMS if reason.startswith(prefix)), reason[:20])


def report(results: dict[str, list[Result]], runs: int, p95: float, stable_failed: int) -> None:
    print(
        f"\nDetection and rollback time, {runs} runs per fault, load {LOAD_RATE} req/s "
        f"(seconds from the fault; stable p95 {p95:.1f} ms)"
    )
    print(f"{'fault':16} {'median':>7} {'max':>7} {'goal':>6}  {'met':6} {'caught':>7}  caught by")
    for key, samples in results.items():
        fault = FAULTS[key]
        times = [r.seconds for r in samples if r.seconds is not None]
        caught = sum(r.status is fault.expected for r in samples)
        median = f"{statistics.median(times):7.2f}" if times else f"{'-':>7}"
        worst = f"{max(times):7.2f}" if times else f"{'-':>7}"
        goal = f"{fault.goal:5.0f}s" if fault.goal else f"{'-':>6}"
        if fault.goal is None:
            met = "-"
        else:
            met = "met" if caught == len(samples) and max(times) < fault.goal else "MISSED"
        by = Counter(mechanism(r.reason) for r in samples)
        print(
            f"{fault.name:16} {median} {worst} {goal}  {met:6} {caught:>3}/{len(samples):<3}  "
            + ", ".join(f"{name} {n}" for name, n in by.most_common())
        )
    print(f"\nfailed answers from the stable release or no release: {stable_failed}")


if __name__ == "__main__":
    main()

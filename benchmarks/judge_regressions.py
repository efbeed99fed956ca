"""The canary judge against small real regressions: a 2x latency and 1% errors beside 0%.

Real deployments of the demo service (local target, builtin router, all on 127.0.0.1) under
steady load (RATE requests/s through the router), in the setup of the independent rollout
measurement of issue 11: steps 10/50/100, bake 20 s, the judge on with its defaults. The fixed
rules are put out of reach (``latency_factor = 1000``; the 5% error-rate rule cannot see 1%),
so what is caught here is caught by the judge.

  stable          every API request sleeps 5 ms, no errors
  latency 2x      the canary sleeps 10 ms: the service's own time doubled (the router and
                  the client add the same few ms to both, so the measured mean is ~1.6x)
  errors 1% vs 0% the canary answers exactly 1 request in 100 with 500 (the demo's error
                  rate is deterministic), the stable none

A fault that is not caught promotes; the stable version is deployed again before the next run.
Prints each run (outcome, the step it ended at, seconds, the canary's failed client requests,
and the judge's last figures: the ratios behind a latency verdict, the rates behind an error
verdict), then one line per fault.
Usage: python benchmarks/judge_regressions.py [LATENCY_RUNS (20)] [ERROR_RUNS (5)]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from safeship.config import LoadedConfig, load_config
from safeship.demo.demo_app import behaviour_env_name
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.demo.runner import free_port
from safeship.pipeline import operations
from safeship.pipeline.deploy import LiveSnapshot
from safeship.pipeline.states import Status

ENV = "bench"
RATE = 50.0
BAKE = 20.0
STABLE = "latency_ms=5"
FAULTS = {
    "latency 2x": ("lat", "latency_ms=10"),
    "errors 1% vs 0%": ("err", "latency_ms=5,error_rate=0.01"),
}


def version_names(latency_runs: int, error_runs: int) -> dict[str, list[str]]:
    runs = {"latency 2x": latency_runs, "errors 1% vs 0%": error_runs}
    return {fault: [f"{FAULTS[fault][0]}{i}" for i in range(n)] for fault, n in runs.items()}


def write_config(root: Path, names: dict[str, list[str]], stables: int) -> LoadedConfig:
    behaviours = {f"stable{i}": STABLE for i in range(stables)}
    for fault, versions in names.items():
        behaviours.update({v: FAULTS[fault][1] for v in versions})
    env = ", ".join(f'{behaviour_env_name(v)} = "{b}"' for v, b in behaviours.items())
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
port = {free_port()}
steps = [10, 50, 100]
bake_time = {BAKE:g}
health = {{ interval = 0.5, backoff = 0.1 }}
rollback = {{ latency_factor = 1000 }}

[environments.{ENV}.analysis]

[environments.{ENV}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ {env} }}
""",
        encoding="utf-8",
    )
    return load_config(root / "safeship.toml")


@dataclass
class Watch:
    """The last step and the judge's last figures at each judged step of one deploy."""

    step: int | None = None
    judged: dict[int, str] | None = None

    def __call__(self, s: LiveSnapshot) -> None:
        if s.status is Status.PROGRESSING and s.step is not None:
            self.step = s.step
        if s.judgement is not None and s.step is not None:
            self.judged = {**(self.judged or {}), s.step: s.judgement.describe()}


@dataclass
class Run:
    fault: str
    version: str
    caught: bool
    by_judge: bool
    step: int | None
    seconds: float
    canary_failed: int
    detail: str


def main() -> int:
    latency_runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    error_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    names = version_names(latency_runs, error_runs)
    total_runs = latency_runs + error_runs
    root = Path(tempfile.mkdtemp(prefix="safeship-judge-regressions-"))
    loaded = write_config(root, names, total_runs + 1)
    runs: list[Run] = []
    load: LoadGenerator | None = None
    stable_index = 0
    started = time.monotonic()
    try:
        assert operations.deploy(loaded, ENV, "stable0").ok
        port = loaded.config.environments[ENV].port
        load = LoadGenerator(
            f"http://127.0.0.1:{port}/api/v1/items",
            rate=RATE,
            max_seconds=total_runs * 400.0,
            max_requests=int(RATE * total_runs * 400),
        )
        load.start()
        for fault, versions in names.items():
            for version in versions:
                watch = Watch()
                before = load.snapshot().failed[version]
                t0 = time.monotonic()
                outcome = operations.deploy(loaded, ENV, version, on_progress=watch)
                took = time.monotonic() - t0
                failed = load.snapshot().failed[version] - before
                reason = outcome.reason or ""
                caught = outcome.status is Status.ROLLED_BACK
                # A rollback names the failing figures; a step passed, the judge's last look.
                passed = [
                    f"{step}%: {text}"
                    for step, text in sorted((watch.judged or {}).items())
                    if not caught or step != watch.step
                ]
                detail = " | ".join([*passed, *([reason] if caught else [])])
                run = Run(
                    fault,
                    version,
                    caught,
                    caught and reason.startswith("canary analysis"),
                    watch.step,
                    took,
                    failed,
                    detail,
                )
                runs.append(run)
                print(
                    f"  {fault:16} {version:6} {outcome.status.value:12} at {run.step}% "
                    f"{took:5.0f} s, canary failed {failed:3}: {detail}",
                    flush=True,
                )
                if not caught:  # the faulty version serves: put a good one back
                    stable_index += 1
                    assert operations.deploy(loaded, ENV, f"stable{stable_index}").ok
        totals = load.stop()
    finally:
        if load is not None:
            load.stop()
        operations.down(loaded, ENV)
    print(
        f"\n{RATE:g} req/s, steps 10/50/100, bake {BAKE:g} s, judge defaults; "
        f"{time.monotonic() - started:.0f} s"
    )
    print(
        f"{'fault':16} {'caught':>7} {'by judge':>9} {'at 10%':>7} {'at 50%':>7} "
        f"{'median s':>9} {'max s':>6} {'canary failed (median)':>23}"
    )
    for fault in names:
        mine = [r for r in runs if r.fault == fault]
        if not mine:
            continue
        caught = [r for r in mine if r.caught]
        secs = [r.seconds for r in caught]
        print(
            f"{fault:16} {len(caught):>3}/{len(mine):<3} {sum(r.by_judge for r in mine):>9} "
            f"{sum(r.step == 10 for r in caught):>7} {sum(r.step == 50 for r in caught):>7} "
            f"{statistics.median(secs) if secs else float('nan'):>9.1f} "
            f"{max(secs) if secs else float('nan'):>6.1f} "
            f"{statistics.median(r.canary_failed for r in mine):>23g}"
        )
    stable_failed = sum(n for name, n in totals.failed.items() if name.startswith("stable"))
    print(
        f"failed answers from a stable release: {stable_failed}, from none: "
        f"{totals.failed[NO_RELEASE]}"
    )
    return 0 if all(r.caught for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""False alarms and detection time of three ways to judge a canary, on the same simulated streams.

Simulated (seeded, no real waiting): a service at 50 requests/s, 10% of it on the canary, for
one canary step. Each second, Poisson arrivals per release; every request gets a status and a
latency, and the router's view is rebuilt as cumulative BackendStats (the fixed histogram).

Realistic noise in healthy canaries: a base error rate drawn per run (0.2-2%), the canary's own
rate off by a random factor (lognormal, sigma 0.15), a shared incident in 30% of runs (3 s of
20% errors on both releases, as when a dependency hiccups), lognormal latency (median 20-80 ms,
sigma 0.5) with the canary's median off by a few percent, a cold start (the canary's first 5 s
are 30% slower) and rare GC pauses (1% of requests 5x slower) on both.
Bad canaries: the error rate +1 or +5 points, or every latency x2 (so p95 x2), from the start.

Judged three ways:
  safeship judge  safeship.analysis.judge every second on the windows since the step began;
                  bake 60 s, then the judge's own extension (nodata_extension) when it asks
                  for one: a rollback when it says so, a promotion when it says so.
  fixed threshold Argo Rollouts' style: every 10 s, the canary's error rate over the interval
                  must be < 5% and its p95 < 1.5x the stable's usual p95; failureLimit 1
                  (the second failed measurement aborts); 6 measurements.
  script          sleep 30 s, then poll the canary's health 10 times 10 s apart; any failed
                  poll (an error, or slower than 1 s) rolls back. A poll is modelled as one
                  ordinary request (generous: real health endpoints often miss app errors).

"judge before" is the judge's method before its false-alarm fixes (see BEFORE).

Prints, per approach: false rollbacks of healthy canaries with the median / p90 seconds to
their promotion (what an extension costs a healthy deploy), and per fault the share detected
and the median / p90 detection time. Run the same script with an older safeship on
PYTHONPATH for a before/after on the same simulated streams.
Usage: python benchmarks/judge_false_alarms.py [HEALTHY] [SEED]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeship.analysis import CanaryBake, JudgeSettings
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats

RPS = 50
CANARY_SHARE = 0.10
BAKE = 60  # seconds of one canary step
SCRIPT_END = 30 + 10 * 10
# The judge may extend the bake by nodata_extension (default 120 s) and then hold a failure
# for sustain (5 s).
JUDGE_END = BAKE + 130
SIM_SECONDS = max(JUDGE_END, SCRIPT_END)
BAD_RUNS = 100
SEED = 20260501

Floats = npt.NDArray[np.float64]


@dataclass
class Second:
    """What one release served in one simulated second."""

    errors: Floats  # 1.0 for an error, 0.0 for a success, per request
    latency_ms: Floats


@dataclass
class Stream:
    canary: list[Second]
    stable: list[Second]
    stable_p95: float  # the stable release's usual p95, what a hand-set threshold is based on


def simulate(rng: np.random.Generator, fault: str) -> Stream:
    base_err = rng.uniform(0.002, 0.02)
    canary_err = base_err * rng.lognormal(0, 0.15)
    if fault == "error rate +5 points":
        canary_err += 0.05
    if fault == "error rate +1 point":
        canary_err += 0.01
    median = rng.uniform(20, 80)
    canary_median = median * rng.lognormal(0, 0.03)
    if fault == "latency x2":
        canary_median *= 2
    incident = int(rng.integers(0, SIM_SECONDS - 3)) if rng.random() < 0.3 else -100
    streams: dict[str, list[Second]] = {"canary": [], "stable": []}
    for t in range(SIM_SECONDS):
        in_incident = incident <= t < incident + 3
        for name, share, err, med in (
            ("canary", CANARY_SHARE, canary_err, canary_median),
            ("stable", 1 - CANARY_SHARE, base_err, median),
        ):
            n = int(rng.poisson(RPS * share))
            p = 0.2 if in_incident else err
            errors = (rng.random(n) < p).astype(np.float64)
            lat = rng.lognormal(np.log(med), 0.5, n)
            if name == "canary" and t < 5:
                lat *= 1.3
            lat[rng.random(n) < 0.01] *= 5
            streams[name].append(Second(errors, lat))
    p95 = float(np.exp(np.log(median) + 1.645 * 0.5))
    return Stream(streams["canary"], streams["stable"], p95)


def to_stats(seconds: list[Second]) -> BackendStats:
    if not seconds:
        return BackendStats()
    errors = np.concatenate([s.errors for s in seconds])
    lat = np.concatenate([s.latency_ms for s in seconds])
    buckets = np.bincount(
        np.searchsorted(LATENCY_BUCKETS_MS, lat, side="left"), minlength=len(LATENCY_BUCKETS_MS) + 1
    )
    return BackendStats(
        requests=len(errors),
        responses_5xx=int(errors.sum()),
        latency_buckets=tuple(int(c) for c in buckets),
        latency_sum_ms=float(lat.sum()),
    )


# Each approach returns the simulated second of its rollback, or None if it let the canary pass.
Approach = Callable[[Stream], int | None]

SETTINGS = JudgeSettings()
# The judge's method before the false-alarm work: every poll at the full alpha (no looks),
# the error rate's absolute tolerance alone, latency on the mean alone, a 10 s sustain.
BEFORE = JudgeSettings(
    look_interval=BAKE, error_rate_relative_tolerance=0, latency_quantiles=(), sustain=10
)


# The seconds at which the judge promoted healthy canaries, per approach (the cost of its
# extensions); filled by safeship_judge.
PROMOTED_AT: dict[int, list[int]] = {}


def safeship_judge(s: Stream, settings: JudgeSettings = SETTINGS) -> int | None:
    bake = CanaryBake(settings, BAKE)
    for t in range(1, JUDGE_END + 1):
        d = bake.poll(to_stats(s.canary[:t]), to_stats(s.stable[:t]), elapsed=t)
        if d.action == "rollback":
            return t
        if d.action == "promote":
            PROMOTED_AT.setdefault(id(settings), []).append(t)
            return None
    return None


def fixed_threshold(s: Stream, interval: int = 10, failure_limit: int = 1) -> int | None:
    failures = 0
    for end in range(interval, BAKE + 1, interval):
        window = s.canary[end - interval : end]
        errors = np.concatenate([w.errors for w in window])
        lat = np.concatenate([w.latency_ms for w in window])
        rate = errors.mean() if len(errors) else 0.0
        p95 = float(np.percentile(lat, 95)) if len(lat) else 0.0
        if rate >= 0.05 or p95 >= 1.5 * s.stable_p95:
            failures += 1
            if failures > failure_limit:
                return end
    return None


def script(s: Stream, rng: np.random.Generator) -> int | None:
    for t in range(30, SCRIPT_END, 10):
        second = s.canary[t]
        # One request as the canary serves it that second (its error and latency odds).
        if len(second.errors):
            i = int(rng.integers(len(second.errors)))
            if second.errors[i] or second.latency_ms[i] > 1000:
                return t
    return None


def main() -> int:
    healthy_runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    rng = np.random.default_rng(seed)
    poll_rng = np.random.default_rng(seed + 1)
    faults = {
        "healthy": healthy_runs,
        "error rate +1 point": BAD_RUNS,
        "error rate +5 points": BAD_RUNS,
        "latency x2": BAD_RUNS,
    }
    streams = {f: [simulate(rng, f) for _ in range(n)] for f, n in faults.items()}
    approaches: dict[str, Approach] = {
        "safeship judge": safeship_judge,
        "judge before": lambda s: safeship_judge(s, BEFORE),
        "fixed threshold": fixed_threshold,
        "script (sleep+poll)": lambda s: script(s, poll_rng),
    }
    started = time.perf_counter()
    print(
        f"{healthy_runs} healthy and {BAD_RUNS} bad per fault simulated canaries, {RPS} req/s,"
        f" {CANARY_SHARE:.0%} canary, seed {seed}\n"
    )
    header = f"{'approach':<22}{'false rollbacks':>17}{'healthy promoted at, med/p90 s':>33}"
    for fault in list(faults)[1:]:
        header += f"{fault + ': detected, med/p90 s':>42}"
    print(header)
    for name, approach in approaches.items():
        PROMOTED_AT.clear()
        healthy = [approach(s) for s in streams["healthy"]]
        false_rate = sum(t is not None for t in healthy) / len(healthy)
        promoted = next(iter(PROMOTED_AT.values()), [])
        at = f"{np.median(promoted):.0f} / {np.percentile(promoted, 90):.0f}" if promoted else "-"
        row = f"{name:<22}{false_rate:>16.1%} {at:>32}"
        for fault in list(faults)[1:]:
            times = [t for t in (approach(s) for s in streams[fault]) if t is not None]
            detected = len(times) / len(streams[fault])
            if times:
                med, p90 = np.median(times), np.percentile(times, 90)
                cell = f"{detected:.0%}, {med:.0f} / {p90:.0f}"
            else:
                cell = f"{detected:.0%}, - / -"
            row += f"{cell:>42}"
        print(row)
    print(f"\n(judged in {time.perf_counter() - started:.1f} s of wall time; goal: judge <= 1%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The smallest regression the canary judge's defaults catch, per stable error rate.

Simulated (seeded, no real waiting): a canary rollout at RATE requests/s in total (default 50)
in the setup of issue 11's independent measurement — steps 10% then 50%, bake 20 s each, the
judge with its defaults (``JudgeSettings()``), a fresh :class:`safeship.analysis.CanaryBake`
per step polled every POLL (2) seconds up to the end of its extension. Requests arrive as
Poisson counts per second; each fails at its release's rate, independently.

  error rate   stable at 0%, 0.1%, 1% or 5%, the canary that many points higher (a grid);
               latency identical on both (one histogram bucket), so only the error rate
               decides.
  latency      lognormal, median 20 ms, sigma 0.5 (p95 ~45 ms), 1% of requests 5x slower
               (GC pauses) on both; the canary's every latency x RATIO (a grid); no errors.

A run is caught when the judge rolls back at the 10% or the 50% step. Prints, per case, the
share caught at each grid point (and the share of those at 10%) up to the first caught in at
least 95% of runs (larger ones are not run), then that smallest regression with the median
seconds from the start of the rollout to the rollback.
Usage: python benchmarks/judge_sensitivity.py [RUNS (25)] [RATE (50)] [SEED]
"""

from __future__ import annotations

import math
import sys
import time
from bisect import bisect_left
from collections.abc import Callable

import numpy as np

from safeship.analysis import CanaryBake, JudgeSettings
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats

BAKE = 20.0
SHARES = (0.10, 0.50)
STABLE_RATES = (0.0, 0.001, 0.01, 0.05)
POINTS = (0.005, 0.01, 0.02, 0.05, 0.1)
RATIOS = (1.2, 1.3, 1.5, 2.0, 3.0)
GOAL = 0.95
SEED = 20261130
# The judge is polled every POLL seconds (the pipeline polls every 0.1 s; every 2 s keeps this
# simulation to minutes: each poll runs Fisher's and Mann-Whitney's tests).
POLL = 2
SETTINGS = JudgeSettings()
N_BUCKETS = len(LATENCY_BUCKETS_MS) + 1
ONE_BUCKET = bisect_left(LATENCY_BUCKETS_MS, 20.0)

# One simulated second of one release: (requests, errors, latency histogram counts, sum ms).
Second = tuple[int, int, np.ndarray, float]
Source = Callable[[np.random.Generator, float], Second]


def error_source(rate: float) -> Source:
    def second(rng: np.random.Generator, mean: float) -> Second:
        n = int(rng.poisson(mean))
        counts = np.zeros(N_BUCKETS, dtype=np.int64)
        counts[ONE_BUCKET] = n
        return n, int(rng.binomial(n, rate)), counts, 20.0 * n

    return second


def latency_source(ratio: float) -> Source:
    def second(rng: np.random.Generator, mean: float) -> Second:
        n = int(rng.poisson(mean))
        lat = rng.lognormal(math.log(20.0), 0.5, n) * ratio
        lat[rng.random(n) < 0.01] *= 5
        idx = np.searchsorted(LATENCY_BUCKETS_MS, lat, side="left")
        return n, 0, np.bincount(idx, minlength=N_BUCKETS), float(lat.sum())

    return second


def one_step(
    rng: np.random.Generator, rate: float, share: float, canary: Source, stable: Source
) -> float | None:
    """Seconds into the step when the judge rolls back; None when it promotes."""
    bake = CanaryBake(SETTINGS, BAKE)
    limit = int(BAKE + SETTINGS.nodata_extension + SETTINGS.sustain + 1)
    totals = {
        "canary": [0, 0, np.zeros(N_BUCKETS, dtype=np.int64), 0.0],
        "stable": [0, 0, np.zeros(N_BUCKETS, dtype=np.int64), 0.0],
    }
    for t in range(1, limit + 1):
        for name, source, mean in (
            ("canary", canary, rate * share),
            ("stable", stable, rate * (1 - share)),
        ):
            n, errors, counts, total_ms = source(rng, mean)
            acc = totals[name]
            acc[0] += n
            acc[1] += errors
            acc[2] = acc[2] + counts
            acc[3] += total_ms
        if t % POLL:
            continue
        windows = [
            BackendStats(
                requests=int(acc[0]),
                responses_5xx=int(acc[1]),
                latency_buckets=tuple(int(c) for c in acc[2]),
                latency_sum_ms=float(acc[3]),
            )
            for acc in (totals["canary"], totals["stable"])
        ]
        decision = bake.poll(windows[0], windows[1], elapsed=float(t))
        if decision.action == "rollback":
            return float(t)
        if decision.action == "promote":
            return -float(t)  # promoted after t seconds
    return None


def one_rollout(
    rng: np.random.Generator, rate: float, canary: Source, stable: Source
) -> tuple[float, float] | None:
    """(step share, seconds from the rollout's start) of the rollback; None if promoted."""
    spent = 0.0
    for share in SHARES:
        t = one_step(rng, rate, share, canary, stable)
        if t is not None and t > 0:
            return share, spent + t
        spent += abs(t) if t is not None else 0.0
    return None


def sweep(
    label: str,
    grid: tuple[float, ...],
    make: Callable[[float], tuple[Source, Source]],
    runs: int,
    rate: float,
    rng: np.random.Generator,
    fmt: Callable[[float], str],
) -> str:
    """Print the share caught per grid point; return the smallest caught in >= GOAL."""
    cells, smallest = [], "none in the grid"
    for x in grid:
        canary, stable = make(x)
        results = [one_rollout(rng, rate, canary, stable) for _ in range(runs)]
        caught = [r for r in results if r is not None]
        at_first = sum(1 for r in caught if r[0] == SHARES[0])
        cells.append(f"{fmt(x)} {len(caught) / runs:.0%} ({at_first} at {SHARES[0]:.0%})")
        if len(caught) / runs >= GOAL:
            seconds = float(np.median([r[1] for r in caught]))
            smallest = f"{fmt(x)} ({seconds:.0f} s median, {at_first / runs:.0%} at 10%)"
            break  # larger regressions are caught at least as often
    print(f"  {label:30} " + ", ".join(cells), flush=True)
    return smallest


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else SEED
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    print(
        f"{runs} simulated runs per point, {rate:g} req/s, bake {BAKE:g} s + extension "
        f"{SETTINGS.nodata_extension:g} s, judge defaults, seed {seed}; share caught:"
    )
    table: list[tuple[str, str]] = []
    for stable_rate in STABLE_RATES:
        smallest = sweep(
            f"stable {stable_rate:.1%} errors, +points",
            POINTS,
            lambda d, s=stable_rate: (error_source(s + d), error_source(s)),
            runs,
            rate,
            rng,
            lambda d: f"{d * 100:g}",
        )
        table.append((f"error rate (+points), stable at {stable_rate:.1%}", f"+{smallest}"))
    smallest = sweep(
        "latency x",
        RATIOS,
        lambda r: (latency_source(r), latency_source(1.0)),
        runs,
        rate,
        rng,
        lambda r: f"{r:g}",
    )
    table.append(("latency (every response x ratio)", f"x{smallest}"))
    print(
        f"\nsmallest regression caught in >= {GOAL:.0%} of rollouts "
        f"({rate:g} req/s, steps 10% and 50%, bake {BAKE:g} s):"
    )
    print("| metric | smallest caught (median seconds to the rollback, share caught at 10%) |")
    print("|---|---|")
    for metric, smallest in table:
        print(f"| {metric} | {smallest} |")
    print(f"\n({time.perf_counter() - started:.0f} s of wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The registry reads the dashboard's pages make, at scale: 100,000 deployments in PostgreSQL.

Seeds a registry (``seed_registry.seed``: a year of deployments over four environments, with
their events, canary steps and health checks) in a private PostgreSQL started as the tests
start theirs (or the one ``--url`` names, seeded unless ``--no-seed``), then times each read
through the core API, as a page calls it, RUNS times: the median and the p95. The issue's
goal: server time p95 under 200 ms per page.

  status (all)          core.status: the overview page, every environment
  status (production)   core.status of one environment
  history (all, 50)     core.history, 50 newest of every environment
  history (prod, 50)    core.history of one environment
  deployment log        core.deployment_log of one deployment (its page's timeline)

    python benchmarks/dashboard_queries.py [--deployments 100000] [--runs 20] [--url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seed_registry import bench_project, registry_url, seed  # on the path

from safeship import core

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # testing/, for its PostgreSQL

GOAL_MS = 200.0


def _time(read: Callable[[], Any], runs: int) -> tuple[float, float, int]:
    """Median and p95 in milliseconds over ``runs`` calls (after one warm-up), and the size
    of the last answer."""
    answer = read()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = read()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, len(answer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--url", help="a PostgreSQL registry to use (default: a private one)")
    parser.add_argument("--no-seed", action="store_true", help="--url is seeded already")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with registry_url(args.url, "dashboard") as url, tempfile.TemporaryDirectory() as tmp:
        sample: str | None = None
        if not args.no_seed:
            summary = seed(url, args.deployments, seed=args.seed)
            print(
                f"seeded {summary.deployments:,} deployments, {summary.events:,} events, "
                f"{summary.step_results:,} step results, {summary.check_results:,} check "
                f"results in {summary.seconds:.1f} s"
            )
            sample = summary.samples[-1]
        os.chdir(tmp)
        loaded = bench_project(Path(tmp), url)
        if sample is None:
            sample = core.history(loaded, core.HistoryQuery(limit=1))[0].id
        reads: list[tuple[str, Callable[[], Any]]] = [
            ("status (all)", lambda: core.status(loaded)),
            ("status (production)", lambda: core.status(loaded, "production")),
            ("history (all, 50)", lambda: core.history(loaded, core.HistoryQuery(limit=50))),
            (
                "history (production, 50)",
                lambda: core.history(loaded, core.HistoryQuery("production", 50)),
            ),
            (
                "deployment log",
                lambda: core.deployment_log(loaded, core.LogQuery(deployment=sample, limit=500)),
            ),
        ]
        print(f"\n{'read':<26}{'median ms':>10}{'p95 ms':>10}{'rows':>7}")
        worst = 0.0
        for name, read in reads:
            median, p95, size = _time(read, args.runs)
            worst = max(worst, p95)
            print(f"{name:<26}{median:>10.1f}{p95:>10.1f}{size:>7}")
        load = os.getloadavg()[0]
        verdict = "under" if worst < GOAL_MS else "OVER"
        print(f"\nworst p95 {worst:.1f} ms: {verdict} the {GOAL_MS:.0f} ms goal (load {load:.1f})")
        return 0 if worst < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())

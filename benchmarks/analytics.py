"""How long the analytics take on a big registry: N deployments (100,000 by default) spread
over a year with their events, step results, baselines and CI runs (``seed_registry.seed``),
in a private PostgreSQL server started like the tests' (or the registry at ``--url``); then
``core.analytics`` over the last 90 days, for every environment and for production alone,
timed over several runs (median and p95 of the wall time, in the process, as a face calls it).

Goal (issue 14): a 90-day analytics query under 1 s at 100,000 deployments.

    python benchmarks/analytics.py [--deployments N] [--runs R] [--url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "benchmarks")]

from seed_registry import p95, registry_url, seed  # noqa: E402

from safeship import core  # noqa: E402
from safeship.config import load_config  # noqa: E402

BUDGET = 1.0
PERIOD = timedelta(days=90)
CONFIG = """\
[registry]
url = "{url}"
{environments}"""
ENVIRONMENT = """
[environments.{name}]
port = {port}
[environments.{name}.target]
command = ["python", "-m", "app"]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--url", help="an existing registry to seed (default: a private server)")
    args = parser.parse_args()
    with registry_url(args.url, "analytics_bench") as url, tempfile.TemporaryDirectory() as folder:
        done = seed(url, args.deployments)
        print(
            f"seeded {done.deployments:,} deployments, {done.events:,} events, "
            f"{done.step_results:,} step results in {done.seconds:.1f} s"
        )
        environments = "".join(
            ENVIRONMENT.format(name=name, port=18_900 + n)
            for n, name in enumerate(done.environments)
        )
        path = Path(folder) / "safeship.toml"
        path.write_text(CONFIG.format(url=url, environments=environments), encoding="utf-8")
        loaded = load_config(path)
        rows = []
        for label, environment in (("every environment", None), ("production", "production")):
            query = core.AnalyticsQuery(environment, PERIOD)
            times, cpu = [], []
            for _ in range(args.runs):
                began, began_cpu = time.perf_counter(), time.process_time()
                report = core.analytics(loaded, query)
                times.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
            counted = report.series["deployments_per_day"]
            total = int(sum(p.value or 0 for p in counted))
            rows.append(
                (label, total, statistics.median(times), p95(times), statistics.median(cpu))
            )
    # Wall time is what a person waits; this process's CPU time, what the machine's load does
    # not inflate (the database server's own work is not in it).
    print(f"\ncore.analytics over {PERIOD.days} days, {args.runs} runs each:")
    print(
        f"{'scope':<20} {'deployments':>12} {'median':>9} {'p95':>9} {'CPU':>9}"
        f"  goal: p95 < {BUDGET:g} s"
    )
    ok = True
    for label, total, median, high, used in rows:
        verdict = "ok" if high < BUDGET else "OVER"
        ok &= high < BUDGET
        print(f"{label:<20} {total:>12,} {median:>8.3f}s {high:>8.3f}s {used:>8.3f}s  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The dashboard's pages at scale: server time per page with 100,000 deployments in PostgreSQL,
and the live stream's latency from a registry change to the event.

Seeds a registry (``seed_registry.seed``: a year of deployments over four environments, with
their events, canary steps and health checks) in a private PostgreSQL started as the tests
start theirs (or the one ``--url`` names), then requests each page from the ASGI app in process
(``TestClient``: server time, no network) RUNS times: median and p95. The issue's goals: p95
under 200 ms per page, under 1 s for a 90-day analytics query, and a state change reaching the
browser within 1 s (here: reaching a stream's client over a real uvicorn server).

    PYTHONPATH=src:. python benchmarks/dashboard.py [--deployments 100000] [--runs 20] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # testing/, for PostgreSQL

from seed_registry import bench_project, p95, registry_url, seed  # on the path

from safeship.config import LoadedConfig

PAGE_GOAL_MS = 200.0
ANALYTICS_GOAL_MS = 1000.0
LIVE_GOAL_MS = 1000.0


def _pages(loaded: LoadedConfig, sample: str, runs: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient

    from safeship.dashboard import create_app

    pages = [
        ("overview /", "/", PAGE_GOAL_MS),
        ("/api/dashboard", "/api/dashboard", PAGE_GOAL_MS),
        ("history /history", "/history", PAGE_GOAL_MS),
        ("history filtered", "/history?environment=production&status=rolled_back", PAGE_GOAL_MS),
        ("history by version", "/history?version=v1.0.7", PAGE_GOAL_MS),
        ("deployment page", f"/deployments/{sample}", PAGE_GOAL_MS),
        ("analytics 90d (all)", "/analytics?since=90d", ANALYTICS_GOAL_MS),
        ("analytics 90d (prod)", "/analytics?environment=production&since=90d", ANALYTICS_GOAL_MS),
    ]
    rows = []
    with TestClient(create_app(loaded)) as client:
        for name, url, goal in pages:
            assert client.get(url).status_code == 200, url  # warm-up, and a check
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - began) * 1000)
            rows.append((name, statistics.median(times), p95(times), goal))
    return rows


def _live_latency(loaded: LoadedConfig, deployment: str, changes: int) -> list[float]:
    """Milliseconds from each registry change to its event on a stream (real server)."""
    import httpx

    from safeship.dashboard import create_app
    from safeship.registry import Registry
    from testing.browser import serve_app

    delays = []
    with (
        serve_app(create_app(loaded)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", f"/api/deployments/{deployment}/stream") as stream,
        Registry(loaded.registry_url()) as registry,
    ):
        lines = stream.iter_lines()

        def next_state() -> dict[str, object]:
            for line in lines:
                if line.startswith("data: "):
                    state: dict[str, object] = json.loads(line.removeprefix("data: "))
                    return state
            raise RuntimeError("the stream ended")

        next_state()
        for n in range(changes):
            step = 10 + (n % 9) * 10
            began = time.perf_counter()
            registry.update_deployment(deployment, status="progressing", current_step=step)
            while next_state().get("currentStep") != step:
                pass
            delays.append((time.perf_counter() - began) * 1000)
            time.sleep(0.1)
    return delays


# The history page's queries as the registry writes them (registry/deployments.py), to show
# which index serves each filter at this scale.
_COLUMNS = "id, environment, version, status, started_at"
_ORDER = "ORDER BY started_at DESC, id DESC LIMIT 51"
EXPLAINED = (
    ("newest", f"SELECT {_COLUMNS} FROM deployments {_ORDER}"),
    (
        "environment",
        f"SELECT {_COLUMNS} FROM deployments WHERE environment = 'production' {_ORDER}",
    ),
    (
        "environment + status",
        f"SELECT {_COLUMNS} FROM deployments WHERE environment = 'production' "
        f"AND status IN ('rolled_back') {_ORDER}",
    ),
    ("version", f"SELECT {_COLUMNS} FROM deployments WHERE version = 'v1.0.7' {_ORDER}"),
    ("who", f"SELECT {_COLUMNS} FROM deployments WHERE triggered_by = 'alice' {_ORDER}"),
    (
        "deep page (cursor)",
        f"SELECT {_COLUMNS} FROM deployments WHERE (started_at < (SELECT started_at FROM "
        "deployments WHERE id = %(cursor)s) OR (started_at = (SELECT started_at FROM deployments "
        f"WHERE id = %(cursor)s) AND id < %(cursor)s)) {_ORDER}",
    ),
)


def _explain(url: str, cursor: str) -> None:
    """EXPLAIN ANALYZE of each history query: its plan's first line and its time."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        print(f"\n{'history query':<24}{'ms':>8}  plan")
        for name, sql in EXPLAINED:
            rows = connection.execute(f"EXPLAIN ANALYZE {sql}", {"cursor": cursor}).fetchall()
            plan = [str(r[0]).strip() for r in rows]
            scans = [line.split("  (")[0].lstrip("-> ") for line in plan if "Scan" in line]
            took = next((line for line in plan if line.startswith("Execution Time")), "")
            ms = float(took.split(":")[1].split()[0]) if took else float("nan")
            print(f"{name:<24}{ms:>8.2f}  {'; '.join(scans[:2])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--url", help="a PostgreSQL registry to use (default: a private one)")
    args = parser.parse_args()

    with registry_url(args.url, "dashboard") as url, tempfile.TemporaryDirectory() as tmp:
        summary = seed(url, args.deployments)
        print(
            f"seeded {summary.deployments:,} deployments, {summary.events:,} events in "
            f"{summary.seconds:.1f} s"
        )
        os.chdir(tmp)
        loaded = bench_project(Path(tmp), url)
        from safeship import core

        sample = summary.samples[-1]
        print(f"\n{'page':<24}{'median ms':>10}{'p95 ms':>10}{'goal ms':>9}")
        worst_ratio = 0.0
        for name, median, page_p95, goal in _pages(loaded, sample, args.runs):
            worst_ratio = max(worst_ratio, page_p95 / goal)
            print(f"{name:<24}{median:>10.1f}{page_p95:>10.1f}{goal:>9.0f}")
        _explain(url, summary.samples[0])
        running = core.history(loaded, core.HistoryQuery("production", 1))[0].id
        delays = _live_latency(loaded, running, args.changes)
        live_p95 = p95(delays)
        worst_ratio = max(worst_ratio, live_p95 / LIVE_GOAL_MS)
        print(
            f"{'live: change -> event':<24}{statistics.median(delays):>10.1f}{live_p95:>10.1f}"
            f"{LIVE_GOAL_MS:>9.0f}"
        )
        load = os.getloadavg()[0]
        verdict = "within" if worst_ratio < 1 else "OVER"
        print(
            f"\n{verdict} every goal (worst p95 at {worst_ratio:.0%} of its goal; load {load:.1f})"
        )
        return 0 if worst_ratio < 1 else 1


if __name__ == "__main__":
    sys.exit(main())

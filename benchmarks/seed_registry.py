"""Seed a registry with N deployments spread over a year, with their events, step results,
baselines, CI runs, the pre-push gate's runs and false-alarm marks: the data the analytics and
the dashboard read, at the scale the issue asks them to stay fast at (100,000 deployments).

``seed(url, n)`` migrates the registry to HEAD (by opening it) and writes the rows in bulk:
COPY on PostgreSQL, executemany on SQLite, both in the registry's own stored forms
(``safeship.registry.sql``'s codecs), so every reader sees them as it sees its own. Seeded
from a fixed random seed: the same N gives the same rows.

    python benchmarks/seed_registry.py URL [--deployments N] [--days D]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from safeship.registry import Registry  # noqa: E402
from safeship.registry.sql import db_id  # noqa: E402

ENVIRONMENTS = (("production", 0.45), ("staging", 0.45), ("preview", 0.10))
STATUSES = (("succeeded", 0.85), ("rolled_back", 0.07), ("failed", 0.05), ("aborted", 0.03))
RULES = ("error_rate", "latency", "canary_analysis", "manual", "pause_timeout")
PATHS = (None, "github-actions", "circleci", "railway-native")
PEOPLE = ("ci", "alice", "bob", "carol", "dependabot")
EVENTS_OF = {
    "succeeded": ("deployment.started", "stage.passed", "traffic.shifted", "traffic.shifted",
                  "deployment.succeeded"),
    "rolled_back": ("deployment.started", "stage.passed", "traffic.shifted",
                    "rollback.triggered", "rollback.completed", "deployment.failed"),
    "failed": ("deployment.started", "stage.failed", "deployment.failed"),
    "aborted": ("deployment.started", "deployment.aborted"),
}  # fmt: skip

DEPLOYMENT_COLUMNS = (
    "id", "environment", "version", "commit_sha", "triggered_by", "started_at", "completed_at",
    "status", "current_step", "health_score", "error_count", "rollback_reason", "path",
    "strategy", "rollback_rule", "gate_verdict", "stable_version",
)  # fmt: skip
EVENT_COLUMNS = ("deployment_id", "timestamp", "name", "attributes")
STEP_COLUMNS = (
    "deployment_id", "step_index", "weight", "verdict", "score", "canary_error_rate",
    "stable_error_rate", "canary_latency_ms", "stable_latency_ms", "canary_requests",
    "canary_errors", "stable_requests", "stable_errors", "created_at",
)  # fmt: skip
BASELINE_COLUMNS = (
    "environment", "version", "deployment_id", "path", "sample_count", "errors", "error_rate",
    "mean_ms", "p50_ms", "p95_ms", "p99_ms", "created_at",
)  # fmt: skip
CI_COLUMNS = (
    "path", "run_id", "environment", "version", "started_at", "completed_at", "conclusion",
    "duration_seconds",
)  # fmt: skip
PREPUSH_COLUMNS = (
    "ran_at", "repository", "branch", "commit_sha", "verdict", "duration_seconds",
    "failed_checks",
)  # fmt: skip
MARK_COLUMNS = ("deployment_id", "mark", "marked_by", "marked_at", "reason")


@dataclass(frozen=True)
class Seeded:
    deployments: int
    events: int
    steps: int
    seconds: float


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


class _Rows:
    """Every table's rows, in the stored forms of one backend."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.tables: dict[str, list[tuple[Any, ...]]] = {
            "deployments": [], "events": [], "step_results": [], "baselines": [],
            "ci_runs": [], "prepush_runs": [], "deployment_marks": [],
        }  # fmt: skip

    def time(self, moment: datetime) -> Any:
        if self.dialect == "sqlite":
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def id(self, value: str) -> Any:
        return db_id(value) if self.dialect == "sqlite" else value


def _generate(n: int, days: float, now: datetime, dialect: str, rng: random.Random) -> _Rows:
    rows = _Rows(dialect)
    t = rows.time
    span = days * 86400
    starts = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(n))
    stable: dict[str, str] = {}
    for index, started in enumerate(starts):
        env = _pick(rng, ENVIRONMENTS)
        status = _pick(rng, STATUSES)
        deployment = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        key = rows.id(deployment)
        version = f"v{index // 3}.{index % 3}"
        commit = f"{rng.getrandbits(160):040x}"
        minutes = rng.uniform(2, 30) if status != "failed" else rng.uniform(0.5, 3)
        completed = started + timedelta(minutes=minutes)
        rule = rng.choice(RULES) if status == "rolled_back" else None
        path = rng.choice(PATHS)
        rows.tables["deployments"].append((
            key, env, version, commit, rng.choice(PEOPLE), t(started), t(completed), status,
            100 if status == "succeeded" else 10, round(rng.uniform(0.6, 1.0), 2),
            rng.randint(0, 50), f"rule {rule} fired" if rule else None, path, "canary", rule,
            "passed", stable.get(env),
        ))  # fmt: skip
        names = EVENTS_OF[status]
        for n_event, name in enumerate(names):
            at = started + (completed - started) * (n_event / max(1, len(names) - 1))
            document = {"environment": env, "version": version, "commit": commit,
                        "triggered_by": "ci", "attributes": {"step": n_event}}  # fmt: skip
            rows.tables["events"].append((key, t(at), name, json.dumps(document)))
        if status in ("succeeded", "rolled_back"):
            latency = rng.gauss(80, 10) * (1.5 if status == "rolled_back" else 1.0)
            for step, weight in enumerate((10, 50, 100) if status == "succeeded" else (10,)):
                rows.tables["step_results"].append((
                    key, step, weight, "continue", 0.9, 0.01, 0.01, latency, 80.0, 500, 5,
                    4500, 40, t(started + timedelta(minutes=step + 1)),
                ))  # fmt: skip
        if status == "succeeded":
            stable[env] = version
            if env == "production" and index % 5 == 0:
                p95 = rng.gauss(120, 15)
                rows.tables["baselines"].append((
                    env, version, key, "/", 200, 1, 0.005, p95 / 2, p95 / 2.2, p95, p95 * 1.3,
                    t(completed),
                ))  # fmt: skip
        if path in ("github-actions", "circleci") and status != "aborted":
            seconds = rng.uniform(60, 900)
            conclusion = "success" if status == "succeeded" else "failure"
            rows.tables["ci_runs"].append((
                path, f"run-{index}", env, version,
                t(started - timedelta(seconds=seconds)), t(started), conclusion, seconds,
            ))  # fmt: skip
        if status == "rolled_back" and rng.random() < 0.1:
            rows.tables["deployment_marks"].append(
                (key, "false-alarm", "alice", t(completed + timedelta(hours=1)), "noisy")
            )
        if index % 2 == 0:
            blocked = rng.random() < 0.1
            rows.tables["prepush_runs"].append((
                t(started - timedelta(minutes=30)), "app", "main", commit,
                "blocked" if blocked else "passed", rng.uniform(1, 20),
                json.dumps(["secrets"] if blocked else []),
            ))  # fmt: skip
    return rows


_COLUMNS = {
    "deployments": DEPLOYMENT_COLUMNS, "events": EVENT_COLUMNS, "step_results": STEP_COLUMNS,
    "baselines": BASELINE_COLUMNS, "ci_runs": CI_COLUMNS, "prepush_runs": PREPUSH_COLUMNS,
    "deployment_marks": MARK_COLUMNS,
}  # fmt: skip


def _batches(rows: list[tuple[Any, ...]], size: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _write_postgresql(url: str, rows: _Rows) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        for table, values in rows.tables.items():
            columns = ", ".join(_COLUMNS[table])
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in values:
                    copy.write_row(row)
        conn.execute("ANALYZE")


def _write_sqlite(path: str, rows: _Rows) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            for table, values in rows.tables.items():
                columns = _COLUMNS[table]
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                for batch in _batches(values):
                    conn.executemany(sql, batch)
        conn.execute("ANALYZE")
    finally:
        conn.close()


def seed(
    url: str, n: int = 100_000, *, days: float = 365.0, now: datetime | None = None, seed: int = 0
) -> Seeded:
    """Write ``n`` deployments started over the ``days`` before ``now`` into the registry at
    ``url`` (SQLite or PostgreSQL), with their events and the rest; what was written."""
    began = time.monotonic()
    with Registry(url) as registry:
        # A first write creates a SQLite file and migrates a new database to HEAD.
        lease = registry.acquire_lease("seed", "seed_registry", 10.0)
        registry.release_lease("seed", lease.token)
        sqlite_path = registry.path
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    rows = _generate(n, days, now or datetime.now(UTC), dialect, random.Random(seed))
    if dialect == "postgresql":
        _write_postgresql(url, rows)
    else:
        assert sqlite_path is not None
        _write_sqlite(str(sqlite_path), rows)
    return Seeded(
        deployments=len(rows.tables["deployments"]),
        events=len(rows.tables["events"]),
        steps=len(rows.tables["step_results"]),
        seconds=time.monotonic() - began,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="sqlite:///path.db or postgresql://...")
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=365.0)
    args = parser.parse_args()
    done = seed(args.url, args.deployments, days=args.days)
    print(
        f"seeded {done.deployments} deployments, {done.events} events, {done.steps} step "
        f"results in {done.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

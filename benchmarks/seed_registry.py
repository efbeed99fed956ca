"""Seed a registry with a year of realistic deployments, fast: the dashboard's and the
analytics' benchmarks read it.

``seed(url, deployments, seed=0)`` migrates the registry to HEAD (opening it through
``Registry``), then writes ``deployments`` deployments spread over the year before now across
four environments, each with its events (10-30: started, each stage started and passed or
failed, each health check, each traffic shift, the ending), its canary step results and its
health check results. PostgreSQL is written with COPY (psycopg), SQLite with executemany in
one transaction; both in batches, so memory stays flat. The same ``seed`` gives the same rows.

    python benchmarks/seed_registry.py URL [--deployments 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safeship.config import load_config
from safeship.registry import Registry

if TYPE_CHECKING:
    from safeship.config import LoadedConfig

ENVIRONMENTS: Final = ("production", "staging", "preview", "qa")
# Production sees the most deploys, preview the fewest... roughly as teams do.
_ENV_WEIGHTS: Final = (0.35, 0.35, 0.15, 0.15)
_PEOPLE: Final = ("alice", "bob", "carol", "dave", "erin", "github-actions", "circleci")
_STRATEGIES: Final = ("canary", "canary", "canary", "blue_green", "rolling")
_PATHS: Final = ("local", "github-actions", "circleci", None)
_CHECKS: Final = (
    (1, "basic"), (2, "deep"), (2, "postgres"), (2, "redis"), (3, "smoke"), (4, "baseline")
)  # fmt: skip
_STEPS: Final = (5, 25, 50, 100)
_BATCH: Final = 2_000  # deployments per batch


@dataclass(frozen=True)
class SeedSummary:
    url: str
    deployments: int
    events: int
    step_results: int
    check_results: int
    environments: tuple[str, ...]
    first: datetime
    last: datetime
    seconds: float
    # Deployment ids to read back: the newest of each environment, and one from the middle.
    samples: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class _Rows:
    deployments: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    checks: list[tuple[Any, ...]] = field(default_factory=list)


DEPLOYMENT_COLUMNS: Final = (
    "id", "environment", "version", "commit_sha", "triggered_by", "started_at", "completed_at",
    "status", "current_step", "health_score", "error_count", "rollback_reason", "path",
    "strategy", "rollback_rule", "gate_verdict", "stable_version", "paused_at", "notes",
)  # fmt: skip
EVENT_COLUMNS: Final = ("deployment_id", "timestamp", "name", "attributes")
STEP_COLUMNS: Final = (
    "deployment_id", "step_index", "weight", "verdict", "score", "reason", "canary_error_rate",
    "stable_error_rate", "error_p_value", "canary_latency_ms", "stable_latency_ms",
    "latency_ratio", "canary_requests", "canary_errors", "stable_requests", "stable_errors",
    "error_verdict", "latency_verdict", "created_at",
)  # fmt: skip
CHECK_COLUMNS: Final = (
    "deployment_id", "level", "name", "status", "ok", "critical", "duration_ms", "detail",
    "created_at",
)  # fmt: skip


def seed(url: str, deployments: int, *, seed: int = 0) -> SeedSummary:
    """Write ``deployments`` deployments (and their events, steps and checks) to ``url``."""
    began = time.monotonic()
    with Registry(url) as registry, registry._writing("seed the registry"):
        pass  # a first write transaction: the file created, the schema migrated to HEAD
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=365)
    counts = {"events": 0, "steps": 0, "checks": 0}
    newest: dict[str, str] = {}
    middle = ""
    writer = _PostgresWriter(url) if url.startswith("postgresql") else _SqliteWriter(url)
    try:
        for batch in _batches(rng, deployments, start, end):
            writer.write(batch)
            counts["events"] += len(batch.events)
            counts["steps"] += len(batch.steps)
            counts["checks"] += len(batch.checks)
            for row in batch.deployments:
                newest[row[1]] = row[0]
            if not middle and counts["events"] and len(newest) == len(ENVIRONMENTS):
                middle = batch.deployments[len(batch.deployments) // 2][0]
        writer.finish()
    finally:
        writer.close()
    samples = tuple(newest[e] for e in ENVIRONMENTS if e in newest) + ((middle,) if middle else ())
    return SeedSummary(
        url=url,
        deployments=deployments,
        events=counts["events"],
        step_results=counts["steps"],
        check_results=counts["checks"],
        environments=ENVIRONMENTS,
        first=start,
        last=end,
        seconds=time.monotonic() - began,
        samples=samples,
    )


# -- the rows ----------------------------------------------------------------------------------


@contextmanager
def registry_url(url: str | None, database: str = "bench") -> Iterator[str]:
    """``url``, or a database in a private PostgreSQL server started for the benchmark (as
    the tests start theirs) and stopped after it."""
    if url is not None:
        yield url
        return
    from testing.postgres import running_postgres

    with running_postgres() as server:
        yield server.create_database(database)


def bench_project(root: Path, url: str, environments: Sequence[str] = ENVIRONMENTS) -> LoadedConfig:
    """A safeship.toml in ``root`` whose registry is ``url``, with ``environments`` (the
    seeded ones by default) on free ports."""
    from safeship._processes import free_port

    tables = "".join(
        f"[environments.{name}]\nport = {free_port()}\n[environments.{name}.target]\n"
        'command = ["python", "-m", "http.server", "{port}"]\n\n'
        for name in environments
    )
    config = root / "safeship.toml"
    config.write_text(f'[project]\nname = "bench"\n\n[registry]\nurl = "{url}"\n\n{tables}')
    return load_config(config)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _batches(
    rng: random.Random, deployments: int, start: datetime, end: datetime
) -> Iterator[_Rows]:
    span = (end - start).total_seconds()
    versions = dict.fromkeys(ENVIRONMENTS, 0)
    stable: dict[str, str | None] = dict.fromkeys(ENVIRONMENTS)
    rows = _Rows()
    for n in range(deployments):
        # Spread evenly over the year, jittered, oldest first (as they were written).
        at = start + timedelta(seconds=span * (n + rng.random() * 0.9) / max(deployments, 1))
        environment = rng.choices(ENVIRONMENTS, _ENV_WEIGHTS)[0]
        versions[environment] += 1
        version = f"v{versions[environment] // 100}.{versions[environment] % 100}.{n % 7}"
        _deployment(rng, rows, environment, version, stable[environment], at)
        if rows.deployments[-1][7] == "succeeded":
            stable[environment] = version
        if len(rows.deployments) >= _BATCH:
            yield rows
            rows = _Rows()
    if rows.deployments:
        yield rows


def _deployment(
    rng: random.Random,
    rows: _Rows,
    environment: str,
    version: str,
    stable: str | None,
    at: datetime,
) -> None:
    deployment_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    roll = rng.random()
    status = (
        "succeeded" if roll < 0.86 else "rolled_back" if roll < 0.94 else
        "failed" if roll < 0.985 else "aborted"
    )  # fmt: skip
    strategy = rng.choice(_STRATEGIES)
    who = rng.choice(_PEOPLE)
    commit = f"{rng.getrandbits(160):040x}"
    path = rng.choice(_PATHS)
    clock = at
    base = {"environment": environment, "version": version, "commit": commit, "triggered_by": who}

    def event(event_name: str, seconds: float, **attributes: Any) -> None:
        nonlocal clock
        clock += timedelta(seconds=seconds)
        document = base | {"attributes": attributes}
        rows.events.append((deployment_id, clock, event_name, json.dumps(document)))

    event("deployment.started", 0, strategy=strategy, path=path)
    failed_at_stage = status == "failed" and rng.random() < 0.7
    for stage in ("validate", "deploy", "verify"):
        event("stage.started", rng.uniform(0.05, 2), stage=stage)
        if failed_at_stage and stage == "verify":
            event("stage.failed", rng.uniform(1, 20), stage=stage, reason="health check failed")
            break
        event("stage.passed", rng.uniform(1, 40), stage=stage)
    checks_ok = not failed_at_stage
    for level, name in _CHECKS:
        ok = checks_ok or name != "deep"
        duration = round(rng.lognormvariate(3, 0.6), 2)
        event("check.completed", 0.01, name=name, level=level, ok=ok, duration_ms=duration)
        rows.checks.append(
            (deployment_id, level, name, "ok" if ok else "failed", ok, level <= 2, duration,
             "200 OK" if ok else "503 Service Unavailable", clock)
        )  # fmt: skip
    health = None if failed_at_stage else round(rng.uniform(0.8, 1.0), 3)
    rule = None
    reason = None
    step_reached = 0
    if not failed_at_stage and strategy == "canary":
        rollback_step = rng.randrange(len(_STEPS)) if status == "rolled_back" else None
        for index, weight in enumerate(_STEPS):
            event("traffic.shifted", rng.uniform(30, 300), weight=weight, step=index)
            bad = index == rollback_step
            stable_rate = rng.uniform(0, 0.01)
            canary_rate = rng.uniform(0.06, 0.2) if bad else stable_rate * rng.uniform(0.5, 1.5)
            stable_ms = rng.uniform(40, 120)
            canary_ms = stable_ms * (rng.uniform(2.1, 4) if bad else rng.uniform(0.8, 1.2))
            requests = rng.randint(200, 5000)
            rows.steps.append(
                (deployment_id, index, weight, "fail" if bad else "pass",
                 round(rng.uniform(0, 0.4) if bad else rng.uniform(0.8, 1), 3),
                 "error rate over the threshold" if bad else None, canary_rate, stable_rate,
                 rng.uniform(0, 0.01) if bad else rng.uniform(0.2, 1), canary_ms, stable_ms,
                 canary_ms / stable_ms, requests, int(requests * canary_rate), requests * 3,
                 int(requests * 3 * stable_rate), "fail" if bad else "pass",
                 "fail" if bad and canary_ms / stable_ms > 2 else "pass", clock)
            )  # fmt: skip
            step_reached = index
            if bad:
                rule = rng.choice(("error_rate", "latency"))
                reason = f"{rule} over the threshold at {weight}%"
                event("rollback.triggered", 0.5, rule=rule, reason=reason, step=index)
                event("rollback.completed", rng.uniform(1, 10), to=stable)
                break
    elif status == "rolled_back":
        rule = "health"
        reason = "health check failed after the switch"
        event("rollback.triggered", rng.uniform(5, 60), rule=rule, reason=reason)
        event("rollback.completed", rng.uniform(1, 10), to=stable)
    ending = {
        "succeeded": "deployment.succeeded", "aborted": "deployment.aborted",
    }.get(status, "deployment.failed")  # fmt: skip
    event(ending, rng.uniform(1, 30), status=status, health_score=health)
    rows.deployments.append(
        (deployment_id, environment, version, commit, who, at, clock, status, step_reached,
         health, rng.randint(0, 3) if status != "succeeded" else 0, reason, path, strategy,
         rule, "pass", stable, None, None)
    )  # fmt: skip


# -- the writers -------------------------------------------------------------------------------


class _PostgresWriter:
    def __init__(self, url: str) -> None:
        import psycopg

        self._connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def write(self, rows: _Rows) -> None:
        with self._connection.cursor() as cursor:
            for table, columns, values in _tables(rows):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
        self._connection.commit()

    def finish(self) -> None:
        # Fresh statistics, as autovacuum would have after a year of deploys.
        self._connection.autocommit = True
        self._connection.execute("VACUUM ANALYZE")

    def close(self) -> None:
        self._connection.close()


class _SqliteWriter:
    def __init__(self, url: str) -> None:
        from safeship.registry.sql import db_time  # the stored time format

        self._db_time = db_time
        self._connection = sqlite3.connect(url.removeprefix("sqlite:///"))

    def write(self, rows: _Rows) -> None:
        from safeship.registry.sql import SqliteTx

        tx = SqliteTx(self._connection)
        with self._connection:
            for table, columns, values in _tables(rows):
                marks = ", ".join("?" for _ in columns)
                self._connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    (self._stored(tx, row) for row in values),
                )

    def _stored(self, tx: Any, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            self._db_time(tx, v) if isinstance(v, datetime)
            else uuid.UUID(v).hex if isinstance(v, str) and len(v) == 36 and v.count("-") == 4
            else v
            for v in row
        )  # fmt: skip

    def finish(self) -> None:
        self._connection.execute("ANALYZE")

    def close(self) -> None:
        self._connection.close()


def _tables(rows: _Rows) -> list[tuple[str, Sequence[str], list[tuple[Any, ...]]]]:
    return [
        ("deployments", DEPLOYMENT_COLUMNS, rows.deployments),
        ("events", EVENT_COLUMNS, rows.events),
        ("step_results", STEP_COLUMNS, rows.steps),
        ("check_results", CHECK_COLUMNS, rows.checks),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="postgresql://... or sqlite:///path.db")
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary = seed(args.url, args.deployments, seed=args.seed)
    print(
        f"{summary.deployments} deployments, {summary.events} events, {summary.step_results} "
        f"step results, {summary.check_results} check results in {summary.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()

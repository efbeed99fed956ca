"""What the database gates cost on this machine: backup, verify and the migration dry run on a
database of about 100 MB, each beside the plain PostgreSQL tools doing the same work by hand.

A private PostgreSQL 15 is started as the tests start theirs (or ``--url`` names a server whose
user may create databases). The database is the demo's (``items``, from its migration 001, then
filled to the size asked with generated rows). Each step runs RUNS times; the table gives the
medians and what the gate adds.

  backup    the backup gate's check: pg_dump (custom format), pg_restore --list, sha256, stored
            in the artifact store (a local directory), retention
            by hand: pg_dump -Fc -f FILE
  verify    the gate's verification of a dump (gates.postgres.verify)
            by hand: pg_restore --list FILE
  dry run   the migration gate's check, restoring the backup's dump into a scratch database,
            reading its schema before and after, sampling locks while the migration command
            (python -m safeship.demo.migrate: a new column and a new table) runs, dropping it
            by hand: createdb; pg_restore -d; the migration command; dropdb

    python benchmarks/gates.py [--mb 100] [--runs 3] [--url postgresql://USER@HOST:PORT/postgres]

Measured 2026-11-30 on the 2-core development machine (load average 1.3), PostgreSQL 15:

    database 105 MB (custom-format dump 34 MB); medians of 3 runs, seconds
    step           gate  by hand  gate adds
    backup         2.75     2.64   +0.10 s (+4%)
    verify         0.03     0.04   -0.01 s (-14%)
    dry run        1.17     1.36   -0.19 s (-14%)

The backup gate costs what pg_dump costs, plus its checksum and copy into the store; the dry
run is no slower than doing it by hand (its scratch database is made over one connection
instead of createdb/dropdb processes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg

from safeship.demo.migrate import MIGRATIONS_DIR
from safeship.gates.base import GateContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # testing/, for its PostgreSQL

SMALL_MIGRATION = """\
-- A small migration: a nullable column (no rewrite) and a new table.
ALTER TABLE items ADD COLUMN note TEXT;
CREATE TABLE coupons (code TEXT PRIMARY KEY, percent INTEGER NOT NULL);
"""
BATCH_ROWS = 50_000  # about 9 MB


@dataclass
class Row:
    step: str
    gate: list[float]
    plain: list[float]


# -- the database ---------------------------------------------------------------------------


def fill(url: str, megabytes: int) -> tuple[int, int]:
    """The demo's items table, filled until the database is ``megabytes`` large: (rows, bytes)."""
    schema = (MIGRATIONS_DIR / "001_items.sql").read_text().split("INSERT INTO")[0]
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(schema)
        rows = 0
        size = 0
        while size < megabytes * 1_000_000:
            db.execute(
                "INSERT INTO items (id, name, price_cents) SELECT g, "
                "'item ' || g || ' ' || md5(g::text) || ' ' || md5((g * 7)::text), "
                "(g * 37) %% 100000 FROM generate_series(%s::int, %s::int) AS g",
                (rows + 1, rows + BATCH_ROWS),
            )
            rows += BATCH_ROWS
            fetched = db.execute("SELECT pg_database_size(current_database())").fetchone()
            size = int(fetched[0]) if fetched else 0
        db.execute("VACUUM ANALYZE items")  # as a live table would be: visibility map set
    return rows, size


@contextmanager
def database(admin_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- by hand --------------------------------------------------------------------------------


def tool(*argv: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=1800)


def plain_backup(url: str, dump: Path) -> None:
    tool("pg_dump", "-Fc", "-f", str(dump), url)


def plain_verify(dump: Path) -> None:
    tool("pg_restore", "--list", str(dump))


def plain_dry_run(url: str, dump: Path, migrations: Path) -> None:
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    server, _, _ = url.rpartition("/")
    tool("createdb", f"--maintenance-db={url}", scratch)
    try:
        tool("pg_restore", "-d", f"{server}/{scratch}", str(dump))
        env = {
            **os.environ,
            "DATABASE_URL": f"{server}/{scratch}",
            "DEMO_MIGRATIONS_DIR": str(migrations),
        }
        tool(sys.executable, "-m", "safeship.demo.migrate", env=env)
    finally:
        tool("dropdb", f"--maintenance-db={url}", scratch)


# -- the gates ------------------------------------------------------------------------------


class Gates:
    """The backup and migration gates of a one-environment project, as a deploy runs them."""

    def __init__(self, root: Path, url: str, migrations: Path) -> None:
        from safeship.config import load_config
        from safeship.registry import Registry

        (root / "safeship.toml").write_text(
            '[project]\nname = "bench"\n\n[environments.production]\nport = 18999\n\n'
            "[environments.production.target]\n"
            'command = ["python", "-m", "safeship.demo.demo_app", "--port", "{port}"]\n'
            f'env = {{ DATABASE_URL = "{url}", DEMO_MIGRATIONS_DIR = "{migrations}" }}\n\n'
            "[environments.production.gates.backup]\nenabled = true\nkeep = 2\n\n"
            "[environments.production.gates.migration]\n"
            f'command = ["{sys.executable}", "-m", "safeship.demo.migrate"]\n',
            encoding="utf-8",
        )
        self.loaded = load_config(root / "safeship.toml")
        self.registry = Registry(self.loaded.registry_url())

    def context(self) -> GateContext:
        from safeship.pipeline.environment import open_environment

        env = open_environment(self.loaded, "production")
        deployment_id = self.registry.create_deployment("production", "v2", None, "bench")
        return GateContext(
            loaded=self.loaded,
            environment="production",
            settings=env.settings,
            version="v2",
            commit=None,
            triggered_by="bench",
            deployment_id=deployment_id,
            registry=self.registry,
            target=env.target,
            run_dir=env.run_dir,
            stable_version="v1",
        )

    def backup(self) -> Path:
        """The backup gate's check; the local dump it leaves (for verify and the dry run)."""
        from safeship.gates import backup

        gate = backup.gate(self.loaded.environment("production"))
        assert gate is not None
        context = self.context()
        verdict = gate.check(context)
        assert verdict.outcome == "passed", verdict.reason
        path: Path = context.facts["backup_path"]
        return path

    def dry_run(self, dump: Path) -> None:
        from safeship.gates import migration

        gate = migration.gate(self.loaded.environment("production"))
        assert gate is not None
        context = self.context()
        context.facts["backup_path"] = dump
        verdict = gate.check(context)
        assert verdict.outcome == "passed", verdict.reason


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def measure(url: str, runs: int, work: Path) -> list[Row]:
    from safeship.gates.postgres import verify

    migrations = work / "migrations"
    migrations.mkdir()
    (migrations / "001_items.sql").write_text((MIGRATIONS_DIR / "001_items.sql").read_text())
    (migrations / "002_small.sql").write_text(SMALL_MIGRATION)
    # 001 is applied (the table exists, recorded as the runner records it): the dry runs apply 002.
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "CREATE TABLE demo_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);"
            "INSERT INTO demo_migrations VALUES ('001_items.sql', 'bench')"
        )
    gates = Gates(work, url, migrations)
    rows = [Row("backup", [], []), Row("verify", [], []), Row("dry run", [], [])]
    dump = work / "plain.dump"
    for run in range(runs):
        # Which goes first alternates: a page cache warmed by one must not favour the other.
        plain_first = run % 2 == 0
        for plain in (plain_first, not plain_first):
            if plain:
                rows[0].plain.append(timed(lambda: plain_backup(url, dump)))
                rows[1].plain.append(timed(lambda: plain_verify(dump)))
                rows[2].plain.append(timed(lambda: plain_dry_run(url, dump, migrations)))
            else:
                began = time.perf_counter()
                gate_dump = gates.backup()
                rows[0].gate.append(time.perf_counter() - began)
                rows[1].gate.append(timed(partial(verify, gate_dump)))
                rows[2].gate.append(timed(partial(gates.dry_run, gate_dump)))
    gates.registry.close()
    return rows


def print_table(rows: list[Row], size: int, dump_size: int, runs: int) -> None:
    print(
        f"database {size / 1e6:.0f} MB (custom-format dump {dump_size / 1e6:.0f} MB); "
        f"medians of {runs} runs, seconds; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'step':<10} {'gate':>8} {'by hand':>8} {'gate adds':>10}")
    for row in rows:
        gate, plain = statistics.median(row.gate), statistics.median(row.plain)
        added = gate - plain
        print(f"{row.step:<10} {gate:>8.2f} {plain:>8.2f} {added:>+7.2f} s ({added / plain:+.0%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="database size (MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="a server's admin URL (default: a private server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="safeship-bench-gates-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the private server's user reads nothing here, but may traverse
        if args.url:
            return run(args.url, args.mb, args.runs, work)
        from testing.postgres import running_postgres

        with running_postgres() as server:
            return run(server.admin_url, args.mb, args.runs, work)


def run(admin_url: str, megabytes: int, runs: int, work: Path) -> int:
    with database(admin_url, "bench_gates") as url:
        began = time.perf_counter()
        _, size = fill(url, megabytes)
        print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - began:.1f} s")
        rows = measure(url, runs, work)
        dump_size = (work / "plain.dump").stat().st_size
    print_table(rows, size, dump_size, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

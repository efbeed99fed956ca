"""A registry written by the release before typed records (revision 0003) is upgraded on open
(through 0004, which moved the metadata bag's keys into typed fields, and 0005, which moved the
rest and dropped the bag) and reads back the same history in typed fields.

tests/data/registry_0003.db was written by that release's own code (see
tests/data/make_registry_0003.py); registry_0003.json is the history as it read it back. On
PostgreSQL the same rows are copied into a database migrated to 0003 by the old revisions.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from safeship.registry import Registry
from safeship.registry.migrations import HEAD, alembic_config

DATA = Path(__file__).resolve().parent.parent / "data"
OLD_FILE = DATA / "registry_0003.db"
OLD_HISTORY: list[dict[str, Any]] = json.loads((DATA / "registry_0003.json").read_text())
_UUID = sa.Uuid(as_uuid=False)
_TIME = sa.DateTime(timezone=True)
# The 0003 schema's tables, column by column, to copy the file's rows to PostgreSQL.
OLD_TABLES = {
    "deployments": {
        "id": _UUID, "environment": sa.String, "version": sa.String, "commit_sha": sa.String,
        "triggered_by": sa.String, "started_at": _TIME, "completed_at": _TIME,
        "status": sa.String, "current_step": sa.Integer, "health_score": sa.Float,
        "error_count": sa.Integer, "rollback_reason": sa.Text, "deployment_metadata": sa.JSON,
    },
    "events": {
        "id": sa.Integer, "deployment_id": _UUID, "timestamp": _TIME, "name": sa.String,
        "attributes": sa.JSON,
    },
    "env_snapshots": {
        "id": _UUID, "environment": sa.String, "taken_at": _TIME, "taken_by": sa.String,
        "fingerprint_key_id": sa.String, "variables": sa.JSON,
    },
}  # fmt: skip


def _table(name: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c, t) for c, t in OLD_TABLES[name].items()))


def _utc(value: object) -> object:
    # SQLite hands back the stored UTC time without a zone; PostgreSQL must be told it is UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _copy_old_file_to(url: str) -> None:
    source = sa.create_engine(f"sqlite:///{OLD_FILE}")
    target = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with target.begin() as connection:
            command.upgrade(alembic_config(connection), "0003")
        with source.connect() as old, target.begin() as new:
            for name in OLD_TABLES:
                table = _table(name)
                rows = [
                    {k: _utc(v) for k, v in row._mapping.items()}
                    for row in old.execute(sa.select(table))
                ]
                new.execute(table.insert(), rows)
    finally:
        source.dispose()
        target.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copyfile(OLD_FILE, path)
        path.chmod(0o600)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _copy_old_file_to(url)
    yield url


def _revision(url: str) -> str:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_fixture_is_at_the_old_revision() -> None:
    assert _revision(f"sqlite:///{OLD_FILE}") == "0003"
    assert len(OLD_HISTORY) == 5


def test_upgrade_reads_back_the_same_history(old_registry_url: str) -> None:
    with Registry(old_registry_url) as registry:
        history = registry.history(limit=100)
        events = {r.id: [e.name for e in registry.events(r.id)] for r in history}
        snapshots = registry.env_snapshots("production")
        environment_events = registry.events(None)
    assert _revision(old_registry_url) == HEAD
    assert [
        {
            "id": r.id, "environment": r.environment, "version": r.version,
            "commit_sha": r.commit_sha, "triggered_by": r.triggered_by, "status": r.status,
            "started_at": r.started_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "current_step": r.current_step, "health_score": r.health_score,
            "error_count": r.error_count, "rollback_reason": r.rollback_reason,
            "events": events[r.id],
        }
        for r in history
    ] == [{k: v for k, v in old.items() if k != "metadata"} for old in OLD_HISTORY]  # fmt: skip
    assert [r.stable_version for r in history] == [
        old["metadata"]["stable_version"] for old in OLD_HISTORY
    ]
    assert [s.variables["API_URL"]["value"] for s in snapshots] == ["https://api.example.com"]
    assert [e.name for e in environment_events] == ["lock.taken"]


def test_upgrade_moves_the_metadata_into_typed_fields(old_registry_url: str) -> None:
    with Registry(old_registry_url) as registry:
        by_version = {r.version: r for r in registry.history(limit=100)}
        canary, rolled, paused = by_version["v1.1.0"], by_version["v1.2.0"], by_version["v2.0.0"]
        emergency, failed = by_version["v1.2.1"], by_version["v2.0.1"]

        assert (canary.strategy, canary.gate_verdict, canary.path) == ("canary", "passed", None)
        assert (rolled.rollback_rule, rolled.strategy) == ("error_rate", "canary")
        assert (paused.path, emergency.path, failed.strategy) == (
            "github-actions",
            "local-emergency",
            "all-at-once",
        )

        step, final = registry.step_results(canary.id)
        assert (step.error_verdict, step.latency_verdict) == ("pass", "pass")
        assert (final.step_index, final.weight, final.verdict) == (1, 100, "promoted")
        assert (final.canary_requests, final.canary_errors) == (250, 1)
        assert (final.stable_requests, final.stable_errors) == (750, 4)
        assert (step.step_index, step.weight, step.verdict, step.score) == (0, 25, "pass", 96.0)
        assert (step.canary_error_rate, step.stable_error_rate, step.error_p_value) == (
            0.004,
            0.005,
            0.61,
        )
        assert (step.canary_latency_ms, step.stable_latency_ms, step.latency_ratio) == (
            10.2,
            10.0,
            1.02,
        )
        assert (step.canary_requests, step.canary_errors) == (250, 1)
        assert (step.stable_requests, step.stable_errors) == (750, 4)
        # It had traffic but no analysis: its final totals alone.
        [totals] = registry.step_results(rolled.id)
        assert (totals.step_index, totals.weight, totals.verdict) == (0, 0, "rolled_back")
        assert (totals.canary_requests, totals.canary_errors) == (100, 12)
        assert (totals.stable_requests, totals.stable_errors) == (900, 3)
        assert registry.step_results(paused.id) == []

        # What no column took is kept as notes; a pause still waiting stays on its row.
        assert emergency.notes == "operator: carol@laptop\ntriggered_by: ci-down"
        assert canary.notes == "release: pid 4242, port 9101"
        assert (paused.paused_at, canary.paused_at, failed.notes) == (50, None, None)

        checks = registry.check_results(canary.id)
        assert [(c.level, c.name, c.status, c.ok, c.duration_ms) for c in checks] == [
            (1, "http", "ok", True, 4.2),
            (2, "deep", "ok", True, 18.0),
            (3, "smoke", "degraded", False, 40.5),
        ]
        assert checks[2].detail == "1 of 5 slow"
        [refused] = registry.check_results(failed.id)
        assert (refused.ok, refused.detail) == (False, "connection refused")

        baseline = registry.baseline_for("production", "v1.1.0")
        assert baseline is not None
        assert (baseline.path, baseline.sample_count, baseline.errors) == ("/health", 400, 2)
        assert (baseline.p50_ms, baseline.p95_ms, baseline.p99_ms) == (9.8, 21.4, 33.1)
        assert baseline.error_rate == pytest.approx(0.005)
        assert (baseline.cpu_percent, baseline.compared_with) == (12.5, "v1.0.0")
        assert baseline.rss_mb == 48.2
        assert (baseline.deployment_id, baseline.created_at) == (canary.id, canary.completed_at)
        assert registry.baseline_for("staging") is None

        # An abort left on a finished deployment was handled; a promote waiting is pending.
        [abort] = registry.requests(rolled.id)
        assert (abort.kind, abort.requested_by, abort.handled_at) == (
            "abort",
            "safeship rollback",
            rolled.completed_at,
        )
        assert registry.pending_request(rolled.id) is None
        pending = registry.pending_request(paused.id)
        assert pending is not None
        assert (pending.kind, pending.requested_by) == ("promote", "safeship promote")


def test_an_upgraded_registry_takes_new_deployments(old_registry_url: str) -> None:
    with Registry(old_registry_url) as registry:
        new = registry.create_deployment("production", "v1.3.0", None, "ci", path="github-actions")
        registry.update_deployment(new, status="succeeded", completed=True)
        assert [r.version for r in registry.history("production", limit=2)] == ["v1.3.0", "v1.2.1"]
        last = registry.last_succeeded("production")
        assert last is not None and last.path == "github-actions"


def test_a_downgrade_to_0004_restores_the_bag(old_registry_url: str) -> None:
    from safeship.registry.engine import open_engine, parse_url, writer

    Registry(old_registry_url).close()  # upgrades
    engine = open_engine(parse_url(old_registry_url))
    try:
        with writer(engine).begin() as connection:
            command.downgrade(alembic_config(connection), "0004")
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT version, deployment_metadata FROM deployments")
            ).all()
            counts = [
                connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("events", "env_snapshots", "step_results")
            ]
    finally:
        engine.dispose()
    bags = {version: bag if isinstance(bag, dict) else json.loads(bag) for version, bag in rows}
    old = {r["version"]: r["metadata"] for r in OLD_HISTORY}
    assert _revision(old_registry_url) == "0004"
    assert counts == [3, 1, 1]  # the final traffic rows are back in the bag
    for version in ("v1.2.0", "v1.1.0"):
        assert bags[version]["traffic"] == old[version]["traffic"]
        assert bags[version]["strategy"] == old[version]["strategy"]
    assert bags["v2.0.0"]["paused_at"] == 50 and bags["v2.0.0"]["request"] == "promote"
    assert bags["v1.2.0"]["rollback"]["rule"] == "error_rate"
    assert bags["v1.2.1"]["operator"] == "carol@laptop"
    assert bags["v1.1.0"]["analysis"]["score"] == old["v1.1.0"]["analysis"]["score"]
    assert [c["name"] for c in bags["v1.1.0"]["checks"]] == ["http", "deep", "smoke"]
    assert bags["v1.1.0"]["baseline"]["p95_ms"] == old["v1.1.0"]["baseline"]["p95_ms"]


def test_a_downgrade_to_0003_keeps_every_deployment_and_event(old_registry_url: str) -> None:
    from safeship.registry.engine import open_engine, parse_url, writer

    Registry(old_registry_url).close()  # upgrades
    # The registry's own engine: on SQLite with foreign keys on, so a table rebuild of
    # deployments would cascade into events.
    engine = open_engine(parse_url(old_registry_url))
    try:
        with writer(engine).begin() as connection:
            command.downgrade(alembic_config(connection), "0003")
        with engine.connect() as connection:
            counts = [
                connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("deployments", "events")
            ]
            columns = {c["name"] for c in sa.inspect(connection).get_columns("deployments")}
    finally:
        engine.dispose()
    assert _revision(old_registry_url) == "0003"
    assert counts == [5, 3]
    assert "rollback_rule" not in columns and "deployment_metadata" in columns

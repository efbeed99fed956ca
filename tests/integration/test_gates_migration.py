"""The migration gates against a real PostgreSQL: the dry run on a scratch copy (passing,
failing with the serving database untouched, a dropped column flagged for approval, locks
measured), the real migration before the release starts, the rollback plan, and a deploy
killed between the migration and the release's start closed by recover as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

import testing
from safeship import core
from safeship.gates.base import GateContext
from safeship.gates.migrate import INTERRUPTED_REASON, MigrateGate
from safeship.gates.migration import MigrationGate
from safeship.gates.migration_lint import Schema, read_schema
from safeship.gates.postgres import row_counts
from safeship.gates.rollback_plan import RollbackPlanGate
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome
from safeship.pipeline.states import Status
from safeship.redaction import redact_data
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace
from testing.postgres import PostgresServer
from testing.postgres_data import PASSWORD, password_database

MIGRATOR = Path(testing.__file__).parent / "sql_migrate.py"

MIGRATION = """
[environments.local.gates.migration]
command = {command}
dry_run = {dry_run}
sql_dir = "sql"
max_lock_seconds = {max_lock_seconds}
timeout = 60
"""


@pytest.fixture
def database(postgres_url: str) -> str:
    """The serving database: a table of 200 items."""
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, note text)")
        conn.execute(
            "INSERT INTO items (name, note) "
            "SELECT 'item ' || n, 'note ' || n FROM generate_series(1, 200) AS n"
        )
    return postgres_url


def migrating(
    factory: Callable[..., Workspace],
    database: str,
    *,
    dry_run: bool = True,
    max_lock_seconds: float = 2.0,
    backup: bool = False,
) -> Workspace:
    tables = MIGRATION.format(
        command=json.dumps([sys.executable, str(MIGRATOR)]),
        dry_run=str(dry_run).lower(),
        max_lock_seconds=max_lock_seconds,
    )
    if backup:
        tables += "\n[environments.local.gates.backup]\nenabled = true\n"
    ws = factory(strategy="all-at-once", bake_time=0.2, tables=tables)
    ws.environment().target.set_variable("DATABASE_URL", database)  # type: ignore[attr-defined]
    (ws.root / "sql").mkdir()
    return ws


def write_sql(ws: Workspace, name: str, text: str) -> None:
    (ws.root / "sql" / name).write_text(text, encoding="utf-8")


# The gates these tests are about (others, the backup's and approval's, run beside them).
MIGRATION_GATES = ("migration", "rollback_plan", "migrate")


def gates_of(ws: Workspace, deployment_id: str) -> list[tuple[str, str | None, str | None]]:
    with Registry(ws.loaded.registry_url()) as registry:
        results = registry.gate_results(deployment_id)
    return [(g.gate, g.outcome, g.reason) for g in results if g.gate in MIGRATION_GATES]


def figures_of(ws: Workspace, deployment_id: str, gate: str) -> dict[str, Any]:
    with Registry(ws.loaded.registry_url()) as registry:
        [result] = [g for g in registry.gate_results(deployment_id) if g.gate == gate]
    return dict(result.figures)


def schema_of(url: str) -> Schema:
    with psycopg.connect(url) as conn:
        return read_schema(conn)


def applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM applied_migrations ORDER BY name")]


def scratch_databases(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'safeship\\_scratch\\_%'"
        )
        return [r[0] for r in rows]


def gate_context(ws: Workspace, registry: Registry) -> GateContext:
    """The context a deployment of v2 (v1 serving) gives its gates, for a gate run directly."""
    env = ws.environment()
    return GateContext(
        loaded=ws.loaded,
        environment=ENV,
        settings=env.settings,
        version="v2",
        commit=None,
        triggered_by="test",
        deployment_id="0" * 32,
        registry=registry,
        target=env.target,
        run_dir=env.run_dir,
        stable_version="v1",
    )


def test_a_compatible_migration_is_dry_run_then_applied_right_before_the_release(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    """(About 5 s alone: a whole deploy with a backup, a dry run and the real migration.)"""
    ws = migrating(workspace_factory, database, backup=True)
    write_sql(ws, "001_color.sql", "ALTER TABLE items ADD COLUMN color text;\n")

    outcome = operations.deploy(ws.loaded, ENV, "v1")

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    gates = gates_of(ws, outcome.deployment_id)
    assert [(gate, verdict) for gate, verdict, _ in gates] == [
        ("migration", "passed"),
        ("rollback_plan", "passed"),
        ("migrate", "passed"),
    ]
    assert gates[0][2] is not None and gates[0][2].endswith(
        "the schema change is backward compatible"
    )
    assert gates[1][2] == (
        "nothing to put back (the first release of local); the schema change is backward compatible"
    )
    dry = figures_of(ws, outcome.deployment_id, "migration")
    assert dry["restored_from"] == "backup" and dry["findings"] == [] and dry["lock_samples"] >= 1
    backup_id = figures_of(ws, outcome.deployment_id, "backup")["stored_file"]
    assert figures_of(ws, outcome.deployment_id, "rollback_plan")["backup"] == backup_id
    assert "color" in schema_of(database)["public.items"]
    assert applied(database) == ["001_color.sql"]
    assert scratch_databases(database) == []
    # The real migration ran in deploying, before the release was started.
    with Registry(ws.loaded.registry_url()) as registry:
        stages = [
            (e.name, e.attributes["attributes"].get("stage"))
            for e in registry.events(outcome.deployment_id)
        ]
    assert stages.index(("stage.passed", "migrate")) < stages.index(("stage.started", "deploy"))
    # The report shows the gates, and the plan the rollback_plan gate recorded.
    detail = core.deployment_detail(ws.loaded, outcome.deployment_id)
    shown = [g for g in detail.gates if g.gate in MIGRATION_GATES]
    assert [(g.gate, g.outcome) for g in shown] == [(gate, verdict) for gate, verdict, _ in gates]
    assert ("restored_from", "backup") in shown[0].key_figures
    assert detail.rollback_plan.schema_compatible is True
    assert detail.rollback_plan.backup == backup_id
    assert detail.rollback_plan.text == gates[1][2]


def test_a_failing_dry_run_fails_the_deploy_and_leaves_the_serving_database_alone(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    ws = migrating(workspace_factory, database)
    write_sql(ws, "001_broken.sql", "ALTER TABLE items ADD COLUMN broken no_such_type;\n")
    schema, rows = schema_of(database), row_counts(database)

    outcome = operations.deploy(ws.loaded, ENV, "v1")

    assert outcome.status is Status.FAILED
    assert outcome.reason is not None
    assert outcome.reason.startswith("migration gate: the migration failed in the dry run (exit")
    assert 'type "no_such_type" does not exist' in outcome.reason
    [(gate, verdict, _)] = gates_of(ws, outcome.deployment_id)  # migrate never ran
    assert (gate, verdict) == ("migration", "failed")
    output = figures_of(ws, outcome.deployment_id, "migration")["output"]
    assert "applying 001_broken.sql" in output
    [shown] = [
        g
        for g in core.deployment_detail(ws.loaded, outcome.deployment_id).gates
        if g.gate == "migration"
    ]
    assert shown.output == tuple(output) and all(name != "output" for name, _ in shown.key_figures)
    assert not ws.environment().target.releases()
    assert (schema_of(database), row_counts(database)) == (schema, rows)
    assert scratch_databases(database) == []


def test_a_dropped_and_a_renamed_column_need_approval_and_name_the_sql(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    ws = migrating(workspace_factory, database)
    # Applied by an earlier deploy: in the SQL text, but not in this migration's change.
    write_sql(ws, "000_legacy.sql", "CREATE TABLE legacy (id int);\nDROP TABLE legacy;\n")
    subprocess.run(
        [sys.executable, str(MIGRATOR)],
        cwd=ws.root,
        env={**os.environ, "DATABASE_URL": database},
        check=True,
        capture_output=True,
        timeout=30,
    )
    write_sql(
        ws,
        "001_rename.sql",
        "ALTER TABLE items DROP COLUMN note;\n\n-- the UI says title\n"
        "ALTER TABLE items RENAME COLUMN name TO title;\n",
    )
    gate = MigrationGate(ws.environment().settings.gates.migration)

    with Registry(ws.loaded.registry_url()) as registry:
        context = gate_context(ws, registry)
        verdict = gate.check(context)
        plan = RollbackPlanGate(has_migration=True).check(context)

    findings = [
        "column public.items.name renamed to title "
        "(001_rename.sql:4: ALTER TABLE items RENAME COLUMN name TO title)",
        "column public.items.note dropped (001_rename.sql:1: ALTER TABLE items DROP COLUMN note)",
    ]
    assert verdict.outcome == "passed"
    assert verdict.reason.endswith(f"2 findings need approval: {findings[0]}")
    assert verdict.figures["findings"] == findings
    assert context.needs_approval == [f"migration: {f}" for f in findings]
    assert plan.figures["schema_compatible"] is False
    assert plan.reason == (
        "`safeship rollback local` puts v1 back; the schema change is not backward "
        "compatible and no backup is taken: restore by hand"
    )
    assert "note" in schema_of(database)["public.items"]  # only the scratch copy changed
    assert applied(database) == ["000_legacy.sql"]


def test_the_locks_a_migration_takes_are_measured(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    ws = migrating(workspace_factory, database, max_lock_seconds=0.2)
    write_sql(
        ws,
        "001_flag.sql",
        "ALTER TABLE items ADD COLUMN flag boolean;\nSELECT pg_sleep(0.6);\n",
    )
    gate = MigrationGate(ws.environment().settings.gates.migration)

    with Registry(ws.loaded.registry_url()) as registry:
        context = gate_context(ws, registry)
        verdict = gate.check(context)

    locks = verdict.figures["locks"]
    assert locks["public.items"]["mode"] == "AccessExclusiveLock"
    held = locks["public.items"]["access_exclusive_seconds"]
    assert 0.3 <= held <= 3.0
    assert verdict.figures["seconds"] >= 0.6
    [finding] = verdict.figures["findings"]
    assert finding.startswith(f"ACCESS EXCLUSIVE lock on public.items held about {held:.1f} s")
    assert context.needs_approval == [f"migration: {finding}"]


def test_a_deploy_killed_after_the_migration_is_recovered_as_interrupted(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    """(About 5 s alone: two deploys, the second through the CLI, killed.)"""
    ws = migrating(workspace_factory, database, dry_run=False)
    write_sql(ws, "001_color.sql", "ALTER TABLE items ADD COLUMN color text;\n")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    write_sql(ws, "002_size.sql", "ALTER TABLE items ADD COLUMN size int;\n")
    signal_file = ws.root / "migrated"
    (ws.root / "hold").write_text(str(signal_file))

    deploy = subprocess.Popen(
        [*ws.cli(), "deploy", ENV, "--version", "v2"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not signal_file.exists() or not signal_file.read_text():
            assert deploy.poll() is None, "the deploy ended before its migration was done"
            assert time.monotonic() < deadline, "the migration never signalled"
            time.sleep(0.05)
        migrator = int(signal_file.read_text())
        deploy.send_signal(signal.SIGKILL)
        deploy.wait(timeout=10)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    os.kill(migrator, signal.SIGKILL)  # its parent died: nothing else stops it

    [closed] = operations.recover(ws.loaded, ENV)

    assert closed.version == "v2" and closed.status == "deploying"
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(closed.id)
    plan, migrate = gates_of(ws, closed.id)
    assert plan[:2] == ("rollback_plan", "passed")
    assert migrate == ("migrate", "interrupted", INTERRUPTED_REASON)
    assert record is not None and record.status == "aborted"
    assert record.rollback_reason is not None
    assert record.rollback_reason.endswith(f"; migrate gate: {INTERRUPTED_REASON}")
    assert applied(database) == ["001_color.sql", "002_size.sql"]  # it was: say may be
    assert [r.version for r in ws.environment().target.releases()] == ["v1"]
    assert {b.name: b.weight for b in ws.environment().router.backends()} == {"v1": 100}


def test_no_password_in_what_a_failing_migration_leaves(
    workspace_factory: Callable[..., Workspace], postgres_server: PostgresServer
) -> None:
    """The command prints the URL and the bare password and fails, in the dry run and for
    real: neither verdict's reason nor figures hold the password. (About 3 s: a password
    database, a dump and restore, two commands.)"""
    leak = (
        "import os, urllib.parse as u; url = os.environ['DATABASE_URL']; print(url); "
        "print(u.urlsplit(url).password); raise SystemExit('ERROR: migration failed')"
    )
    with password_database(postgres_server) as url:
        ws = migrating(workspace_factory, url)
        settings = ws.environment().settings.gates.migration.model_copy(
            update={"command": [sys.executable, "-c", leak]}
        )
        with Registry(ws.loaded.registry_url()) as registry:
            context = gate_context(ws, registry)
            verdicts = [
                MigrationGate(settings).check(context),
                MigrateGate(settings).check(context),
            ]

    for verdict in verdicts:
        assert verdict.outcome == "failed"
        assert "(exit code 1: ERROR: migration failed)" in verdict.reason
        shown = json.dumps([verdict.reason, redact_data(dict(verdict.figures))])
        assert PASSWORD not in shown and "****" in shown


def test_a_dropped_column_waits_for_an_approver_before_the_real_migration(
    workspace_factory: Callable[..., Workspace], database: str
) -> None:
    """With the approval gate (h-approval; skipped until it is merged): the finding makes the
    deploy wait although the environment requires no approval; the serving database keeps
    its column until an approver answers, then the migration and the release go on, and the
    report's rollback plan names the backup to restore. (About 5 s alone: a whole deploy.)"""
    approvals: Any = pytest.importorskip(
        "safeship.core._approvals", reason="the approval gate is not merged yet"
    )
    ws = migrating(workspace_factory, database, backup=True)
    write_sql(ws, "001_drop.sql", "ALTER TABLE items DROP COLUMN note;\n")
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.add_user("bob", "approver", "not-a-password-hash", datetime.now(UTC))
    result: list[DeploymentOutcome] = []
    deploy = threading.Thread(
        target=lambda: result.append(operations.deploy(ws.loaded, ENV, "v1", triggered_by="al"))
    )
    deploy.start()
    try:
        deadline = time.monotonic() + 30
        while not (waiting := approvals.pending_approvals(ws.loaded, ENV)):
            assert deploy.is_alive() and time.monotonic() < deadline, "it never waited"
            time.sleep(0.05)
        [pending] = waiting
        finding = (
            "migration: column public.items.note dropped "
            "(001_drop.sql:1: ALTER TABLE items DROP COLUMN note)"
        )
        assert list(pending.reasons) == [finding]
        assert "note" in schema_of(database)["public.items"]  # not migrated yet
        approvals.approve(ws.loaded, pending.deployment.id, user="bob")
    finally:
        deploy.join(60)
    [outcome] = result

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert "note" not in schema_of(database)["public.items"]
    plan = core.deployment_detail(ws.loaded, outcome.deployment_id).rollback_plan
    backup_id = figures_of(ws, outcome.deployment_id, "backup")["stored_file"]
    assert (plan.schema_compatible, plan.backup) == (False, backup_id)
    assert plan.text.endswith(f"restore backup {backup_id} first (safeship backup restore "
                              f"{backup_id} --to URL)")  # fmt: skip

"""The backup gate and `safeship backup` against a real PostgreSQL: a deploy of the demo backs
its database up first (verified, checksummed, stored, on the deployment), a restore of that
backup into a scratch database has the same rows, a backup that fails stops the deploy with a
one-line reason that never shows the password, retention keeps the newest, and a restore never
lands in the serving database by accident."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from safeship import core
from safeship.artifacts.store import ArtifactStore
from safeship.gates import postgres
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import TERMINAL_STATUSES, Registry
from testing.fixtures import ENV, Workspace
from testing.postgres import PostgresServer
from testing.postgres_data import PASSWORD, fill_orders, password_database

BACKUP_GATE = """
[environments.local.gates.backup]
enabled = true
keep = 2
"""


def backed_up(workspace_factory: Callable[..., Workspace], database_url: str | None) -> Workspace:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2, tables=BACKUP_GATE)
    if database_url is not None:
        # As a secret is given: through the target's variables, not in safeship.toml.
        ws.environment().target.set_variable("DATABASE_URL", database_url)
    return ws


def test_a_deploy_backs_the_database_up_and_the_backup_restores(
    workspace_factory: Callable[..., Workspace], postgres_url: str
) -> None:
    fill_orders(postgres_url, rows=40)
    ws = backed_up(workspace_factory, postgres_url)

    outcome = operations.deploy(ws.loaded, ENV, "v1", commit="abc123")

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    with Registry(ws.loaded.registry_url()) as registry:
        # (the rollback plan gate, and approval, run after it)
        [gate] = [g for g in registry.gate_results(outcome.deployment_id) if g.gate == "backup"]
        [stored] = ArtifactStore.for_config(ws.loaded, registry).list("backup", ENV)
    assert (gate.gate, gate.outcome) == ("backup", "passed")
    assert stored.deployment_id == outcome.deployment_id
    assert stored.url.startswith(str(ws.root / ".safeship" / "artifacts" / "backup" / ENV))
    assert gate.figures["stored_file"] == stored.id
    assert gate.figures["sha256"] == stored.sha256[:12]
    assert gate.figures["size"] == stored.size > 0
    assert gate.figures["entries"] >= 3
    assert gate.reason is not None and f"(backup {stored.id[:8]})" in gate.reason
    # The local copy for the migration dry-run: only the newest is kept.
    assert [p.name for p in (ws.root / ".safeship/run" / ENV / "backups").iterdir()] == [
        stored.name
    ]

    with postgres.scratch_database(postgres_url) as scratch:
        restored = core.restore_backup(ws.loaded, stored.id[:8], scratch.url)
        assert restored.row_counts == postgres.row_counts(postgres_url) == {"orders": 40}
        assert not restored.replaced


def test_a_failing_backup_stops_the_deploy_without_showing_the_password(
    workspace_factory: Callable[..., Workspace], postgres_server: PostgresServer
) -> None:
    with password_database(postgres_server) as url:
        wrong_password = "N0t-The-Pa55word-q7"
        ws = backed_up(workspace_factory, url.replace(PASSWORD, wrong_password))

        outcome = operations.deploy(ws.loaded, ENV, "v1")

    assert outcome.status is Status.FAILED
    assert outcome.reason is not None
    assert outcome.reason.startswith("backup gate: pg_dump: error: connection to server at")
    assert "password authentication failed" in outcome.reason
    assert "\n" not in outcome.reason
    assert not ws.environment().target.releases()  # the release never started
    with Registry(ws.loaded.registry_url()) as registry:
        [gate] = registry.gate_results(outcome.deployment_id)
        assert registry.stored_files() == []
        written = [repr(e) for e in registry.events(outcome.deployment_id)]
    assert gate.outcome == "failed"
    written += [outcome.reason, str(gate.reason), (ws.root / ".safeship/events.jsonl").read_text()]
    assert all(wrong_password not in text for text in written)
    assert not list((ws.root / ".safeship").rglob("*.dump*"))  # no half dump anywhere


def test_a_missing_variable_is_named(workspace_factory: Callable[..., Workspace]) -> None:
    ws = backed_up(workspace_factory, None)
    with pytest.raises(core.BackupFailed) as caught:
        core.create_backup(ws.loaded, ENV)
    assert str(caught.value) == (
        "backup of local failed: DATABASE_URL is not among the environment's variables"
    )


def test_retention_keeps_the_newest(
    workspace_factory: Callable[..., Workspace], postgres_url: str
) -> None:
    fill_orders(postgres_url, rows=3)
    ws = backed_up(workspace_factory, postgres_url)

    taken = [core.create_backup(ws.loaded, ENV) for _ in range(3)]

    assert [t.deleted for t in taken] == [0, 0, 1]
    assert [b.id for b in core.backups(ws.loaded, ENV)] == [
        taken[2].stored.id,
        taken[1].stored.id,
    ]
    assert not Path(taken[0].stored.url).exists()
    assert all(b.deployment_id is None for b in core.backups(ws.loaded))  # on demand


def test_a_restore_refuses_the_serving_database_and_a_full_one(
    workspace_factory: Callable[..., Workspace], postgres_url: str
) -> None:
    fill_orders(postgres_url, rows=5)
    ws = backed_up(workspace_factory, postgres_url)
    backup = core.create_backup(ws.loaded, ENV).stored
    serving = postgres_url.replace("127.0.0.1", "localhost").replace("postgres@", "other@")

    with pytest.raises(core.BackupRefused, match="is the database local serves from"):
        core.restore_backup(ws.loaded, backup.id, serving)
    with postgres.scratch_database(postgres_url) as scratch:
        with psycopg.connect(scratch.url) as conn:
            conn.execute("CREATE TABLE leftover (id int)")
        with pytest.raises(core.BackupRefused, match="is not empty"):
            core.restore_backup(ws.loaded, backup.id, scratch.url)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("DELETE FROM orders WHERE id > 2")

    # --force: the serving database gets the backup's rows back.
    restored = core.restore_backup(ws.loaded, backup.id, postgres_url, force=True)

    assert restored.replaced and restored.row_counts == {"orders": 5}


def test_the_cli_backs_up_restores_and_prints_row_counts(
    workspace_factory: Callable[..., Workspace], postgres_url: str
) -> None:
    fill_orders(postgres_url, rows=7)
    ws = backed_up(workspace_factory, postgres_url)
    created = subprocess.run(
        [*ws.cli(), "backup", "create", ENV, "--json"],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    [backup] = core.backups(ws.loaded, ENV)
    assert json.loads(created.stdout)["id"] == backup.id
    with postgres.scratch_database(postgres_url) as scratch:
        result = subprocess.run(
            [*ws.cli(), "backup", "restore", backup.id[:8], "--to", scratch.url],
            cwd=ws.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        refused = subprocess.run(
            [*ws.cli(), "backup", "restore", backup.id[:8], "--to", postgres_url],
            cwd=ws.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"backup {backup.id[:8]} (local, ")
    assert f"restored into {scratch.masked}" in lines[0]
    assert lines[1:] == ["  orders             7 rows"]
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "is the database local serves from: restore into another database, "
        "or give --force to overwrite it"
    )


def test_a_deploy_killed_during_the_backup_leaves_no_half_file_in_the_store(
    workspace_factory: Callable[..., Workspace], postgres_url: str
) -> None:
    fill_orders(postgres_url, rows=5)
    ws = backed_up(workspace_factory, postgres_url)
    local = ws.root / ".safeship/run" / ENV / "backups"
    with psycopg.connect(postgres_url) as holder:
        # pg_dump waits for this lock: the deploy is caught mid-backup.
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        deploy = subprocess.Popen(
            [*ws.cli(), "deploy", ENV, "--version", "v1"],
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not list(local.glob(".*.partial")) and time.monotonic() < deadline:
                assert deploy.poll() is None, "the deploy ended before its backup"
                time.sleep(0.05)
            assert list(local.glob(".*.partial")), "the backup never started"
        finally:
            os.killpg(deploy.pid, signal.SIGKILL)  # safeship and its pg_dump
            deploy.wait(timeout=10)

    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
        [gate] = registry.gate_results(record.id)
        assert registry.stored_files() == []
    assert (gate.gate, gate.outcome) == ("backup", None)  # unfinished: it was running
    assert not list((ws.root / ".safeship/artifacts").rglob("*"))
    assert [r.id for r in operations.recover(ws.loaded, ENV)] == [record.id]
    with Registry(ws.loaded.registry_url()) as registry:
        after = registry.get(record.id)
    assert after is not None and after.status in TERMINAL_STATUSES
    # The next backup clears the half dump the killed one left.
    core.create_backup(ws.loaded, ENV)
    assert not list(local.glob(".*.partial"))

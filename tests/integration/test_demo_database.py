"""The demo's database: the SQL-folder migration runner (``python -m safeship.demo.migrate``)
on real PostgreSQL and SQLite, and the demo app answering /api/v1/items from the table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from safeship._processes import free_port
from safeship.demo import migrate
from safeship.demo.database import rows
from safeship.demo.migrate import MIGRATIONS_DIR


def run_migrate(
    url: str, *args: str, folder: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    if folder is not None:
        env["DEMO_MIGRATIONS_DIR"] = str(folder)
    return subprocess.run(
        [sys.executable, "-m", "safeship.demo.migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_migrations_apply_once_in_order_on_postgresql(postgres_url: str) -> None:
    first = run_migrate(postgres_url)
    assert first.returncode == 0, first.stderr
    assert "applied 001_items.sql" in first.stdout and "applied 002_items_stock.sql" in first.stdout
    again = run_migrate(postgres_url)
    assert again.returncode == 0 and "0 applied, 2 already applied" in again.stdout
    items = rows(postgres_url, "SELECT * FROM items ORDER BY id")
    assert [(i["name"], i["stock"]) for i in items] == [
        ("anvil", 10),
        ("rocket skates", 10),
        ("giant magnet", 10),
    ]
    recorded = rows(postgres_url, "SELECT name FROM demo_migrations ORDER BY name")
    assert [r["name"] for r in recorded] == ["001_items.sql", "002_items_stock.sql"]


def test_a_failing_migration_leaves_nothing_applied_nor_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_items.sql").write_text((MIGRATIONS_DIR / "001_items.sql").read_text())
    (folder / "002_broken.sql").write_text(
        "ALTER TABLE items ADD COLUMN colour TEXT;\nSELECT * FROM no_such_table;\n"
    )
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    failed = run_migrate(url, folder=folder)
    assert failed.returncode == 1
    assert "failed, rolled back: 002_broken.sql: no such table: no_such_table" in failed.stderr
    assert migrate.applied(url) == {"001_items.sql"}
    assert "colour" not in rows(url, "SELECT * FROM items")[0]  # the ALTER was rolled back
    listed = run_migrate(url, "--list", folder=folder)
    assert listed.stdout.splitlines() == [
        "demo-migrate: applied 001_items.sql",
        "demo-migrate: pending 002_broken.sql",
    ]


def test_usage_errors_are_one_line_and_never_show_the_password(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "safeship.demo.migrate"],
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    unreachable = run_migrate(f"postgresql://app:Pw-9f8e7d6c@127.0.0.1:{free_port()}/app")
    assert unreachable.returncode == 1 and "cannot connect to PostgreSQL" in unreachable.stderr
    assert "Pw-9f8e7d6c" not in unreachable.stderr + unreachable.stdout
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "add-things.sql").write_text("SELECT 1;")
    misnamed = run_migrate(f"sqlite:///{tmp_path / 'x.db'}", folder=tmp_path / "m")
    assert misnamed.returncode == 2 and "named NNN_words.sql" in misnamed.stderr


@pytest.mark.postgres
def test_the_demo_app_answers_items_from_the_database(postgres_url: str, tmp_path: Path) -> None:
    assert run_migrate(postgres_url).returncode == 0
    role = f"reader_{os.getpid()}_{free_port()}"
    with psycopg.connect(postgres_url) as db:
        db.execute("UPDATE items SET stock = 3 WHERE id = 2")
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": postgres_url, "SAFESHIP_VERSION": "v2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert "listening" in app.stdout.readline()
        items = httpx.get(f"http://127.0.0.1:{port}/api/v1/items", timeout=10).json()
        assert items[1] == {"id": 2, "name": "rocket skates", "price_cents": 12900, "stock": 3}
        deep = httpx.get(f"http://127.0.0.1:{port}/api/health/deep", timeout=10)
        assert deep.status_code == 200 and "database" in deep.text
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute("ALTER TABLE items RENAME TO items_gone")  # a database of another app
        builtin = httpx.get(f"http://127.0.0.1:{port}/api/v1/items", timeout=10)
        assert builtin.status_code == 200 and "stock" not in builtin.json()[1]
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute("ALTER TABLE items_gone RENAME TO items")
            db.execute("REVOKE SELECT ON items FROM PUBLIC")
            db.execute(f"CREATE ROLE {role} LOGIN")  # roles are the server's: a name of its own
        reader = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    finally:
        app.terminate()
        app.wait(10)
    # Run as a user who may not read the table: the database cannot answer.
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": reader},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert "listening" in app.stdout.readline()
        refused = httpx.get(f"http://127.0.0.1:{port}/api/v1/items", timeout=10)
        assert refused.status_code == 503 and refused.json()["error"] == "database unavailable"
    finally:
        app.terminate()
        app.wait(10)

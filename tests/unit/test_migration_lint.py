"""The migration linter's rules on schemas and SQL text (the catalog side runs against a real
PostgreSQL in tests/integration/test_gates_migration.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.gates.migration_lint import (
    Column,
    Finding,
    Schema,
    locate,
    lock_findings,
    schema_findings,
    sql_statements,
)

TEXT = Column("text", False, None)
BEFORE: Schema = {
    "public.users": {"id": Column("integer", True, None), "email": TEXT, "name": TEXT},
    "public.orders": {"id": Column("integer", True, None), "total": Column("numeric", False, None)},
    "public.audit": {"at": Column("timestamp with time zone", False, None)},
}


def lines(findings: list[Finding]) -> list[str]:
    return [f.line for f in findings]


def test_a_backward_compatible_change_has_no_finding() -> None:
    after: Schema = {
        **BEFORE,
        "public.users": {**BEFORE["public.users"], "nickname": TEXT},  # nullable: fine
        "public.orders": {
            **BEFORE["public.orders"],
            "currency": Column("text", True, "'EUR'::text"),  # NOT NULL with a default
        },
        "public.new_table": {"id": Column("integer", True, None)},
    }
    assert schema_findings(BEFORE, after) == []


def test_each_breaking_change_is_one_line_naming_the_table_and_column() -> None:
    after: Schema = {
        "public.users": {
            "id": Column("bigint", True, None),
            "email": Column("text", True, None),
            "full_name": TEXT,
            "tenant": Column("integer", True, None),
        },
        "public.audit_log": dict(BEFORE["public.audit"]),
    }
    assert lines(schema_findings(BEFORE, after)) == [
        "table public.audit renamed to public.audit_log?",
        "table public.orders dropped",
        "column public.users.email made NOT NULL",
        "column public.users.id type changed from integer to bigint",
        "column public.users.name dropped and full_name added, same type (renamed?)",
        "new column public.users.tenant is NOT NULL without a default",
    ]


def test_long_access_exclusive_locks_are_findings() -> None:
    found = lock_findings({"public.users": 3.04, "public.orders": 0.5}, max_lock_seconds=2.0)
    assert lines(found) == [
        "ACCESS EXCLUSIVE lock on public.users held about 3.0 s (over 2 s): every query on it waits"
    ]


def test_sql_statements_name_the_file_line_and_statement(tmp_path: Path) -> None:
    (tmp_path / "002_users.sql").write_text(
        "-- rename for the new UI\n"
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n"
        "ALTER TABLE public.users ALTER COLUMN id TYPE bigint, ALTER COLUMN email SET NOT NULL,\n"
        "  ADD COLUMN tenant int NOT NULL, ADD COLUMN note text NOT NULL DEFAULT '';\n"
        "DROP TABLE orders;\n"
    )
    found = [(s.kind, s.table, s.column, s.where) for s in sql_statements(tmp_path)]
    altered = (
        "002_users.sql:3: ALTER TABLE public.users ALTER COLUMN id TYPE bigint, ALTER COLUMN "
        "email SET NOT NULL, ADD COLUMN tenant int NOT NULL..."
    )
    assert found == [
        (
            "column_renamed",
            "users",
            "name",
            "002_users.sql:2: ALTER TABLE users RENAME COLUMN name TO full_name",
        ),
        ("type_changed", "public.users", "id", altered),
        ("not_null_added", "public.users", "email", altered),
        ("not_null_without_default", "public.users", "tenant", altered),
        ("table_dropped", "orders", None, "002_users.sql:5: DROP TABLE orders"),
    ]


def test_a_finding_is_located_in_the_sql_that_made_it(tmp_path: Path) -> None:
    (tmp_path / "001_old.sql").write_text("DROP TABLE audit;\n")  # public's audit, long ago
    (tmp_path / "002_users.sql").write_text(
        "ALTER TABLE users RENAME COLUMN name TO full_name;\nDROP TABLE orders;\n"
    )
    findings = [
        Finding("table_dropped", "billing.audit", None, "table billing.audit dropped"),
        Finding("table_dropped", "public.orders", None, "table public.orders dropped"),
        Finding("column_dropped", "public.users", "name", "column public.users.name dropped"),
    ]
    assert lines(locate(findings, sql_statements(tmp_path))) == [
        "table billing.audit dropped",  # an unqualified name is public's
        "table public.orders dropped (002_users.sql:2: DROP TABLE orders)",
        "column public.users.name renamed to full_name "
        "(002_users.sql:1: ALTER TABLE users RENAME COLUMN name TO full_name)",
    ]


def test_sql_that_does_not_parse_is_named_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "003_bad.sql").write_text("SELECT 1;\n\nALTER TABLE users DROPP COLUMN x;\n")
    with pytest.raises(
        ValueError, match=r'^003_bad.sql:3: cannot parse: syntax error at or near "DROPP"$'
    ):
        sql_statements(tmp_path)

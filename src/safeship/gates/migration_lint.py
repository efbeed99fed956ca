"""What in a migration would break a rollback of the code: the previous version still runs
against the migrated schema until the new release takes over, and again after a rollback.

The schema before and after the dry run (on the scratch copy) is read from the catalog, so this
works for any migration tool (Alembic, Django, Prisma, a folder of SQL files). Findings:

- a table dropped or renamed (a rename looks like a drop and an add of the same columns);
- a column dropped or renamed (a drop and an add of the same type in one table: "renamed?");
- a column's type changed;
- NOT NULL added to an existing column, or a new NOT NULL column without a default (the old
  code's inserts leave it out);
- an ACCESS EXCLUSIVE lock held longer than ``max_lock_seconds`` (every query on the table
  waits that long).

When the migrations are a folder of .sql files, their text is parsed (pglast, PostgreSQL's own
parser) for the same statements, so a finding names the file and statement; a statement found
in the text but not in the schema change was applied by an earlier deploy and is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

FindingKind = Literal[
    "table_dropped",
    "table_renamed",
    "column_dropped",
    "column_renamed",
    "type_changed",
    "not_null_added",
    "not_null_without_default",
    "long_lock",
    "unlinted",  # the SQL files could not be read or parsed
]

# Relations the previous version may read: tables, partitioned tables, views, materialized views.
_SCHEMA_QUERY = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY n.nspname, c.relname, a.attnum
"""

# The longest statement text a finding quotes.
_QUOTED = 120


@dataclass(frozen=True)
class Column:
    type: str  # as PostgreSQL formats it, e.g. "character varying(20)"
    not_null: bool
    default: str | None


# "schema.table" -> column name -> its definition
Schema = dict[str, dict[str, Column]]


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    table: str  # "schema.table"
    column: str | None
    text: str  # one line naming the table (and column)
    where: str | None = None  # the SQL file and statement, when the migrations are SQL files

    @property
    def line(self) -> str:
        return f"{self.text} ({self.where})" if self.where else self.text


def read_schema(conn: psycopg.Connection[Any]) -> Schema:
    """The tables and views of the database ``conn`` is connected to, with their columns."""
    schema: Schema = {}
    for nspname, relname, column, type_, not_null, default in conn.execute(_SCHEMA_QUERY):
        columns = schema.setdefault(f"{nspname}.{relname}", {})
        if column is not None:
            columns[column] = Column(type_, bool(not_null), default)
    return schema


def schema_findings(before: Schema, after: Schema) -> list[Finding]:
    """What changed from ``before`` to ``after`` that the previous version of the code may
    not survive."""
    findings: list[Finding] = []
    dropped = [t for t in before if t not in after]
    added = [t for t in after if t not in before]
    for table in dropped:
        twin = next((t for t in added if _same_columns(before[table], after[t])), None)
        if twin is not None:
            findings.append(
                Finding("table_renamed", table, None, f"table {table} renamed to {twin}?")
            )
        else:
            findings.append(Finding("table_dropped", table, None, f"table {table} dropped"))
    for table in before.keys() & after.keys():
        findings += _column_findings(table, before[table], after[table])
    return sorted(findings, key=lambda f: (f.table, f.column or "", f.kind))


def _same_columns(a: Mapping[str, Column], b: Mapping[str, Column]) -> bool:
    return {k: c.type for k, c in a.items()} == {k: c.type for k, c in b.items()}


def _column_findings(
    table: str, before: Mapping[str, Column], after: Mapping[str, Column]
) -> list[Finding]:
    findings: list[Finding] = []
    added = [c for c in after if c not in before]
    renamed_to: set[str] = set()
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            twin = next(
                (c for c in added if after[c].type == old.type and c not in renamed_to), None
            )
            if twin is not None:
                renamed_to.add(twin)
                text = f"column {table}.{name} dropped and {twin} added, same type (renamed?)"
                findings.append(Finding("column_renamed", table, name, text))
            else:
                text = f"column {table}.{name} dropped"
                findings.append(Finding("column_dropped", table, name, text))
            continue
        if new.type != old.type:
            text = f"column {table}.{name} type changed from {old.type} to {new.type}"
            findings.append(Finding("type_changed", table, name, text))
        if new.not_null and not old.not_null:
            text = f"column {table}.{name} made NOT NULL"
            findings.append(Finding("not_null_added", table, name, text))
    for name in added:
        column = after[name]
        if name not in renamed_to and column.not_null and column.default is None:
            text = f"new column {table}.{name} is NOT NULL without a default"
            findings.append(Finding("not_null_without_default", table, name, text))
    return findings


def lock_findings(exclusive_seconds: Mapping[str, float], max_lock_seconds: float) -> list[Finding]:
    """An ACCESS EXCLUSIVE lock held (in the dry run) longer than ``max_lock_seconds``."""
    return [
        Finding(
            "long_lock",
            table,
            None,
            f"ACCESS EXCLUSIVE lock on {table} held about {seconds:.1f} s "
            f"(over {max_lock_seconds:g} s): every query on it waits",
        )
        for table, seconds in sorted(exclusive_seconds.items())
        if seconds > max_lock_seconds
    ]


# -- the SQL text -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A risky statement found in a SQL file: what it does to which table (and column)."""

    kind: FindingKind
    table: str  # as written: "table" or "schema.table"
    column: str | None
    where: str  # "file.sql:LINE: <statement text>"
    new_name: str | None = None  # a rename's new name


def sql_statements(sql_dir: Path) -> list[Statement]:
    """The risky statements of the .sql files under ``sql_dir`` (sorted by path); a file that
    does not parse raises ValueError naming it and the line."""
    found: list[Statement] = []
    for path in sorted(sql_dir.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(sql_dir).as_posix()
        found += _statements_of(text, name)
    return found


def _statements_of(text: str, name: str) -> list[Statement]:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        parsed = parse_sql(text)
    except ParseError as exc:
        message, *rest = exc.args  # (message, location in the text)
        line = _line_at(text, rest[0]) if rest and isinstance(rest[0], int) else "?"
        raise ValueError(f"{name}:{line}: cannot parse: {message}") from None
    found: list[Statement] = []
    for raw in parsed:
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(text)
        quoted = " ".join(text[start:end].split())
        if len(quoted) > _QUOTED:
            quoted = quoted[: _QUOTED - 3] + "..."
        where = f"{name}:{_line_at(text, start)}: {quoted}"
        found += [
            Statement(kind, table, column, where, new_name)
            for kind, table, column, new_name in _risky(raw.stmt)
        ]
    return found


def _line_at(text: str, offset: int) -> int:
    # Skip the blank lines and comments before a statement: its line is its first word's.
    rest = text[offset:]
    skipped = len(rest) - len(rest.lstrip())
    return text.count("\n", 0, offset + skipped) + 1


def _risky(stmt: Any) -> Iterable[tuple[FindingKind, str, str | None, str | None]]:
    from pglast import ast
    from pglast.enums import AlterTableType, ConstrType, ObjectType

    if isinstance(stmt, ast.DropStmt) and stmt.removeType == ObjectType.OBJECT_TABLE:
        for names in stmt.objects or ():
            yield "table_dropped", ".".join(n.sval for n in names), None, None
    elif isinstance(stmt, ast.RenameStmt) and stmt.relation is not None:
        table = _relation(stmt.relation)
        if stmt.renameType == ObjectType.OBJECT_TABLE:
            yield "table_renamed", table, None, stmt.newname
        elif stmt.renameType == ObjectType.OBJECT_COLUMN:
            yield "column_renamed", table, stmt.subname, stmt.newname
    elif isinstance(stmt, ast.AlterTableStmt) and stmt.relation is not None:
        table = _relation(stmt.relation)
        for cmd in stmt.cmds or ():
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield "column_dropped", table, cmd.name, None
            elif cmd.subtype == AlterTableType.AT_AlterColumnType:
                yield "type_changed", table, cmd.name, None
            elif cmd.subtype == AlterTableType.AT_SetNotNull:
                yield "not_null_added", table, cmd.name, None
            elif cmd.subtype == AlterTableType.AT_AddColumn and cmd.def_ is not None:
                kinds = {c.contype for c in cmd.def_.constraints or ()}
                if ConstrType.CONSTR_NOTNULL in kinds and ConstrType.CONSTR_DEFAULT not in kinds:
                    yield "not_null_without_default", table, cmd.def_.colname, None


def _relation(relation: Any) -> str:
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else relation.relname


def locate(findings: Sequence[Finding], statements: Sequence[Statement]) -> list[Finding]:
    """Each schema finding with the SQL statement that made it, where one matches (the last:
    the newest file); a "renamed?" becomes a rename when the SQL says so."""
    located = []
    for finding in findings:
        match = next((s for s in reversed(statements) if _matches(s, finding)), None)
        if match is None:
            located.append(finding)
            continue
        text = finding.text
        if match.kind == "column_renamed" and finding.kind in ("column_renamed", "column_dropped"):
            text = f"column {finding.table}.{finding.column} renamed to {match.new_name}"
            kind: FindingKind = "column_renamed"
        elif match.kind == "table_renamed" and finding.kind in ("table_renamed", "table_dropped"):
            text = f"table {finding.table} renamed to {match.new_name}"
            kind = "table_renamed"
        else:
            kind = finding.kind
        located.append(Finding(kind, finding.table, finding.column, text, match.where))
    return located


# A schema change, and the statements that can make it.
_MADE_BY: dict[FindingKind, frozenset[FindingKind]] = {
    "table_dropped": frozenset({"table_dropped", "table_renamed"}),
    "table_renamed": frozenset({"table_dropped", "table_renamed"}),
    "column_dropped": frozenset({"column_dropped", "column_renamed"}),
    "column_renamed": frozenset({"column_dropped", "column_renamed"}),
    "type_changed": frozenset({"type_changed"}),
    "not_null_added": frozenset({"not_null_added"}),
    "not_null_without_default": frozenset({"not_null_without_default"}),
}


def _matches(statement: Statement, finding: Finding) -> bool:
    if statement.kind not in _MADE_BY.get(finding.kind, frozenset()):
        return False
    schema, _, table = finding.table.partition(".")
    if statement.table not in (table, finding.table):
        return False
    if "." not in statement.table and schema != "public":
        return False  # an unqualified name is found on the default search path
    return finding.column is None or statement.column == finding.column
